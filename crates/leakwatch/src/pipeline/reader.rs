//! Stage 1, the reader thread: decodes and parses every line in order (the only state that
//! needs the order: CSV records spanning lines, JSON arrays, the header) and hands rows and
//! problems on in chunks over a bounded channel.

use std::io;

use haechi_leak::dump::{
    DumpEvent, DumpFormat, DumpParser, DumpPlan, DumpRow, LineProblem, ProblemKind, TextEncoding,
};

use crate::input::{Input, LINE_CAP, decode};
use crate::lines::LineRead;

/// Lines read at most before a chunk is handed on, whatever its rows.
const CHUNK_LINES: u64 = 65_536;

/// What the reader thread hands over.
#[derive(Default)]
pub(super) struct Chunk {
    pub(super) rows: Vec<DumpRow>,
    pub(super) problems: Vec<LineProblem>,
    pub(super) lines: u64,
    pub(super) bytes: u64,
    /// Lines read in the encoding other than the dump's.
    pub(super) other_encoding: u64,
}

/// The channel chunks travel on (an error ends the run).
pub(super) type ChunkSender = tokio::sync::mpsc::Sender<io::Result<Chunk>>;

/// The reader thread's work: the sample again, then the rest of the input, parsed by `plan`
/// into chunks of about `batch` rows.
pub(super) fn read_dump(
    mut input: Input,
    sample: Vec<(LineRead, Vec<u8>)>,
    encoding: TextEncoding,
    plan: DumpPlan,
    batch: usize,
    sender: &ChunkSender,
) {
    let mut reader = LineReader::new(encoding, plan);
    let mut chunk = Chunk::default();
    let full = |chunk: &Chunk| chunk.rows.len() >= batch || chunk.lines >= CHUNK_LINES;
    for (read, bytes) in sample {
        reader.line(read, &bytes, &mut chunk);
        if full(&chunk)
            && sender
                .blocking_send(Ok(std::mem::take(&mut chunk)))
                .is_err()
        {
            return;
        }
    }
    let mut buffer = Vec::new();
    loop {
        match input.lines.next_line(&mut buffer) {
            Ok(Some(read)) => reader.line(read, &buffer, &mut chunk),
            Ok(None) => break,
            Err(error) => {
                let _ = sender.blocking_send(Err(error));
                return;
            }
        }
        if full(&chunk)
            && sender
                .blocking_send(Ok(std::mem::take(&mut chunk)))
                .is_err()
        {
            return;
        }
    }
    reader.finish(&mut chunk);
    let _ = sender.blocking_send(Ok(chunk));
}

/// Decoding and parsing, line by line.
struct LineReader {
    encoding: TextEncoding,
    /// Free text reads the start of a line longer than the cap; other formats skip it.
    reads_cut_lines: bool,
    parser: DumpParser,
    events: Vec<DumpEvent>,
}

impl LineReader {
    fn new(encoding: TextEncoding, plan: DumpPlan) -> Self {
        Self {
            encoding,
            reads_cut_lines: plan.format == DumpFormat::Text,
            parser: DumpParser::new(plan),
            events: Vec::new(),
        }
    }

    /// Adds one line's rows and problems to `chunk`.
    fn line(&mut self, read: LineRead, bytes: &[u8], chunk: &mut Chunk) {
        chunk.lines += 1;
        chunk.bytes += read.consumed;
        if read.truncated {
            chunk.problems.push(LineProblem {
                line: read.number,
                last_line: read.number,
                kind: ProblemKind::TooLong {
                    cap: LINE_CAP,
                    scanned: self.reads_cut_lines,
                },
            });
            if !self.reads_cut_lines {
                return;
            }
        }
        match decode(bytes, read, self.encoding) {
            Ok((text, used)) => {
                if used != self.encoding {
                    chunk.other_encoding += 1;
                }
                self.parser.push_line(read.number, &text, &mut self.events);
            }
            Err(kind) => chunk.problems.push(LineProblem {
                line: read.number,
                last_line: read.number,
                kind,
            }),
        }
        self.hand_on(chunk);
    }

    /// Ends the input.
    fn finish(&mut self, chunk: &mut Chunk) {
        self.parser.finish(&mut self.events);
        self.hand_on(chunk);
    }

    fn hand_on(&mut self, chunk: &mut Chunk) {
        for event in self.events.drain(..) {
            match event {
                DumpEvent::Row(row) => chunk.rows.push(row),
                DumpEvent::Problem(problem) => chunk.problems.push(problem),
            }
        }
    }
}
