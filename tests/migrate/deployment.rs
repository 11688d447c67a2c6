//! An embedded deployment made the way an operator makes one: the binary's commands for
//! administrators, services, customers and a bulk import of generated customers, then a real
//! server for logins, refreshes, service tokens, a block, a suspension and a replaced policy.
//! Everything it did is on its audit log.

use serde_json::json;

use crate::util::Instance;

/// The password of the customer that logs in.
const PASSWORD: &str = "correct horse battery";

/// The policy put through the API (a second policy version beside the file's).
const POLICY: &str = r#"
[[grant]]
service = "shipping"
purposes = ["delivery"]
fields = ["name", "phone", "addresses"]
access = "masked"
"#;

/// A deployment with `customers` generated customers bulk-imported (plus one that logs in).
pub async fn deployment(customers: u64) -> Instance {
    let instance = Instance::new();
    std::fs::create_dir_all(instance.data_dir()).unwrap();
    std::fs::write(instance.data_dir().join("policy.toml"), "# deny all\n").unwrap();
    let admin = instance.create_admin("ops");
    let service = instance.create_service("shipping", "delivery");
    instance.create_customer("kim.minjun@example.com", "010-2000-1000", PASSWORD);
    if customers > 0 {
        let file = instance.dir.path().join("customers.jsonl");
        let (code, _, stderr) = instance.run(
            &[
                "customers",
                "generate",
                "--count",
                &customers.to_string(),
                "--seed",
                "16",
                "--out",
                file.to_str().unwrap(),
            ],
            None,
        );
        assert_eq!(code, 0, "{stderr}");
        let (code, stdout, stderr) = instance.run(
            &[
                "customers",
                "import",
                file.to_str().unwrap(),
                "--batch",
                "5000",
            ],
            None,
        );
        assert_eq!(code, 0, "{stderr}");
        assert!(
            stdout.contains(&format!("imported {customers}")),
            "{stdout}"
        );
    }

    let server = instance.serve();
    let pair = server.login("kim.minjun@example.com", PASSWORD).await;
    let (status, refreshed) = server
        .post_json(
            "/v1/auth/refresh",
            json!({"refresh_token": pair["refresh_token"]}),
        )
        .await;
    assert_eq!(status, 200, "{refreshed}");
    server.login("kim.minjun@example.com", PASSWORD).await;
    server.client_token(&service).await;
    let admin_token = server.client_token(&admin).await;
    let (status, block) = server
        .post_with(
            "/v1/admin/blocks",
            &admin_token,
            json!({"network": "203.0.113.0/24", "ttl_secs": 86_400, "reason": "scraper"}),
        )
        .await;
    assert_eq!(status, 201, "{block}");
    let (status, suspension) = server
        .post_with(
            "/v1/admin/suspensions",
            &admin_token,
            json!({"principal": "service:shipping", "reason": "credential leaked"}),
        )
        .await;
    assert!(status == 200 || status == 201, "{suspension}");
    let response = server
        .client
        .put(server.url("/v1/admin/policy"))
        .bearer_auth(&admin_token)
        .body(POLICY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(server.terminate(), Some(0));
    instance
}
