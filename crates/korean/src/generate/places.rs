//! The places the generator draws addresses from: real districts and roads, with postal ranges
//! that are approximate but always inside the province's prefix range.

use crate::Province;

/// A 시·군·구 (or, for Sejong, the city itself) with its postal range and some of its roads.
pub(super) struct District {
    pub(super) province: Province,
    /// Empty for Sejong, which has no 시·군·구 level.
    pub(super) name: &'static str,
    /// Inclusive range of five-digit postal codes.
    pub(super) postal: (u32, u32),
    pub(super) roads: &'static [&'static str],
}

const fn district(
    province: Province,
    name: &'static str,
    postal: (u32, u32),
    roads: &'static [&'static str],
) -> District {
    District {
        province,
        name,
        postal,
        roads,
    }
}

use Province::{
    Busan, Chungbuk, Chungnam, Daegu, Daejeon, Gangwon, Gwangju, Gyeongbuk, Gyeonggi, Gyeongnam,
    Incheon, Jeju, Jeonbuk, Jeonnam, Sejong, Seoul, Ulsan,
};

pub(super) const DISTRICTS: &[District] = &[
    district(
        Seoul,
        "종로구",
        (3000, 3199),
        &["세종대로", "종로", "율곡로", "자하문로", "창경궁로"],
    ),
    district(
        Seoul,
        "중구",
        (4500, 4699),
        &["을지로", "퇴계로", "남대문로", "다산로"],
    ),
    district(
        Seoul,
        "용산구",
        (4300, 4499),
        &["이태원로", "한강대로", "녹사평대로", "서빙고로"],
    ),
    district(
        Seoul,
        "성동구",
        (4700, 4899),
        &["왕십리로", "뚝섬로", "성수일로", "고산자로"],
    ),
    district(
        Seoul,
        "광진구",
        (4900, 5099),
        &["능동로", "아차산로", "광나루로"],
    ),
    district(
        Seoul,
        "마포구",
        (3900, 4199),
        &["월드컵로", "양화로", "마포대로", "독막로", "와우산로"],
    ),
    district(
        Seoul,
        "서대문구",
        (3600, 3799),
        &["연세로", "통일로", "신촌로"],
    ),
    district(
        Seoul,
        "은평구",
        (3300, 3499),
        &["통일로", "연서로", "진관2로"],
    ),
    district(
        Seoul,
        "강서구",
        (7500, 7899),
        &["공항대로", "화곡로", "양천로"],
    ),
    district(
        Seoul,
        "영등포구",
        (7200, 7499),
        &["여의대로", "국제금융로", "영등포로", "당산로"],
    ),
    district(
        Seoul,
        "관악구",
        (8700, 8899),
        &["관악로", "남부순환로", "봉천로", "신림로"],
    ),
    district(
        Seoul,
        "동작구",
        (6900, 7099),
        &["상도로", "노량진로", "사당로"],
    ),
    district(
        Seoul,
        "서초구",
        (6500, 6899),
        &["서초대로", "반포대로", "강남대로", "효령로", "방배로"],
    ),
    district(
        Seoul,
        "강남구",
        (6000, 6399),
        &[
            "테헤란로",
            "강남대로",
            "도산대로",
            "언주로",
            "선릉로",
            "압구정로",
        ],
    ),
    district(
        Seoul,
        "송파구",
        (5500, 5899),
        &["올림픽로", "송파대로", "백제고분로", "양재대로", "오금로"],
    ),
    district(
        Seoul,
        "강동구",
        (5200, 5499),
        &["천호대로", "양재대로", "고덕로"],
    ),
    district(
        Seoul,
        "노원구",
        (1600, 1899),
        &["동일로", "노원로", "상계로", "한글비석로"],
    ),
    district(Seoul, "도봉구", (1300, 1499), &["도봉로", "방학로"]),
    district(
        Seoul,
        "성북구",
        (2700, 2899),
        &["보문로", "동소문로", "정릉로"],
    ),
    district(
        Seoul,
        "양천구",
        (7900, 8199),
        &["목동동로", "목동서로", "신정로"],
    ),
    district(
        Gyeonggi,
        "수원시 영통구",
        (16400, 16799),
        &["광교중앙로", "영통로", "봉영로", "매영로"],
    ),
    district(
        Gyeonggi,
        "수원시 팔달구",
        (16200, 16499),
        &["중부대로", "효원로", "정조로"],
    ),
    district(
        Gyeonggi,
        "성남시 분당구",
        (13400, 13699),
        &["판교역로", "분당로", "정자일로", "황새울로", "불정로"],
    ),
    district(
        Gyeonggi,
        "고양시 일산동구",
        (10300, 10499),
        &["중앙로", "일산로", "호수로", "정발산로"],
    ),
    district(
        Gyeonggi,
        "용인시 수지구",
        (16800, 16999),
        &["포은대로", "수지로", "풍덕천로"],
    ),
    district(
        Gyeonggi,
        "용인시 기흥구",
        (16900, 17199),
        &["기흥로", "중부대로"],
    ),
    district(
        Gyeonggi,
        "화성시",
        (18300, 18699),
        &["동탄대로", "동탄순환대로", "병점중앙로"],
    ),
    district(
        Gyeonggi,
        "부천시",
        (14400, 14799),
        &["길주로", "부천로", "소향로", "중동로"],
    ),
    district(
        Gyeonggi,
        "안양시 동안구",
        (14000, 14199),
        &["시민대로", "평촌대로", "관악대로"],
    ),
    district(
        Gyeonggi,
        "남양주시",
        (12000, 12299),
        &["경춘로", "다산중앙로", "덕소로"],
    ),
    district(
        Gyeonggi,
        "김포시",
        (10000, 10199),
        &["김포대로", "김포한강4로"],
    ),
    district(Gyeonggi, "양평군", (12500, 12599), &["양근로", "경강로"]),
    district(Gyeonggi, "평택시", (17700, 18099), &["평택로", "중앙로"]),
    district(
        Incheon,
        "연수구",
        (21900, 22099),
        &["컨벤시아대로", "송도과학로", "인천타워대로"],
    ),
    district(
        Incheon,
        "남동구",
        (21500, 21699),
        &["인하로", "예술로", "남동대로"],
    ),
    district(
        Incheon,
        "부평구",
        (21300, 21499),
        &["부평대로", "경원대로", "굴포로"],
    ),
    district(Incheon, "서구", (22600, 22899), &["서곶로", "청라대로"]),
    district(
        Gangwon,
        "춘천시",
        (24200, 24499),
        &["중앙로", "공지로", "춘천로"],
    ),
    district(
        Gangwon,
        "원주시",
        (26300, 26599),
        &["원일로", "시청로", "단계로"],
    ),
    district(
        Gangwon,
        "강릉시",
        (25400, 25699),
        &["경강로", "강릉대로", "율곡로"],
    ),
    district(
        Chungbuk,
        "청주시 흥덕구",
        (28400, 28699),
        &["가경로", "직지대로", "2순환로"],
    ),
    district(
        Chungbuk,
        "청주시 상당구",
        (28700, 28899),
        &["상당로", "중앙로"],
    ),
    district(Chungbuk, "충주시", (27300, 27499), &["중앙로", "국원대로"]),
    district(
        Sejong,
        "",
        (30000, 30199),
        &["한누리대로", "갈매로", "도움6로", "보듬3로"],
    ),
    district(
        Chungnam,
        "천안시 서북구",
        (31000, 31299),
        &["불당대로", "번영로", "쌍용대로"],
    ),
    district(
        Chungnam,
        "천안시 동남구",
        (31100, 31299),
        &["충절로", "만남로"],
    ),
    district(
        Chungnam,
        "아산시",
        (31400, 31599),
        &["배방로", "번영로", "온천대로"],
    ),
    district(
        Daejeon,
        "유성구",
        (34100, 34299),
        &["대학로", "유성대로", "엑스포로"],
    ),
    district(
        Daejeon,
        "서구",
        (35200, 35399),
        &["둔산로", "한밭대로", "계룡로"],
    ),
    district(
        Gyeongbuk,
        "포항시 남구",
        (37600, 37899),
        &["포스코대로", "대이로", "희망대로"],
    ),
    district(
        Gyeongbuk,
        "경주시",
        (38000, 38299),
        &["태종로", "알천북로", "화랑로"],
    ),
    district(
        Gyeongbuk,
        "구미시",
        (39100, 39499),
        &["구미대로", "송정대로"],
    ),
    district(Gyeongbuk, "안동시", (36600, 36799), &["경동로", "퇴계로"]),
    district(
        Daegu,
        "수성구",
        (42000, 42299),
        &["달구벌대로", "동대구로", "수성로"],
    ),
    district(
        Daegu,
        "달서구",
        (42600, 42899),
        &["월배로", "달구벌대로", "성서로"],
    ),
    district(Daegu, "중구", (41900, 41999), &["국채보상로", "중앙대로"]),
    district(
        Ulsan,
        "남구",
        (44600, 44799),
        &["삼산로", "번영로", "돋질로"],
    ),
    district(Ulsan, "중구", (44400, 44599), &["학성로", "태화로"]),
    district(
        Busan,
        "해운대구",
        (48000, 48199),
        &["해운대로", "센텀중앙로", "달맞이길"],
    ),
    district(
        Busan,
        "부산진구",
        (47100, 47399),
        &["중앙대로", "서면로", "가야대로"],
    ),
    district(Busan, "수영구", (48200, 48399), &["광안해변로", "수영로"]),
    district(Busan, "동래구", (47700, 47899), &["충렬대로", "명륜로"]),
    district(Busan, "사하구", (49300, 49599), &["낙동대로", "다대로"]),
    district(
        Gyeongnam,
        "창원시 성산구",
        (51400, 51599),
        &["중앙대로", "원이대로", "창원대로"],
    ),
    district(Gyeongnam, "김해시", (50800, 51099), &["김해대로", "가야로"]),
    district(Gyeongnam, "진주시", (52600, 52899), &["진주대로", "동진로"]),
    district(
        Jeonbuk,
        "전주시 완산구",
        (54900, 55199),
        &["효자로", "팔달로", "기린대로"],
    ),
    district(Jeonbuk, "익산시", (54500, 54699), &["무왕로", "익산대로"]),
    district(Jeonnam, "여수시", (59600, 59899), &["시청로", "좌수영로"]),
    district(Jeonnam, "순천시", (57900, 58099), &["중앙로", "팔마로"]),
    district(Jeonnam, "목포시", (58600, 58799), &["영산로", "평화로"]),
    district(
        Gwangju,
        "서구",
        (61900, 62099),
        &["상무대로", "무진대로", "상무중앙로"],
    ),
    district(
        Gwangju,
        "북구",
        (61000, 61299),
        &["서하로", "용봉로", "우치로"],
    ),
    district(
        Gwangju,
        "광산구",
        (62200, 62499),
        &["하남대로", "임방울대로"],
    ),
    district(
        Jeju,
        "제주시",
        (63000, 63399),
        &["노형로", "중앙로", "연북로"],
    ),
    district(
        Jeju,
        "서귀포시",
        (63500, 63699),
        &["중앙로", "일주동로", "중문관광로"],
    ),
];
