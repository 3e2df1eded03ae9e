//! An incremental Server-Sent Events parser, as small as the benchmark needs.
//!
//! A thousand watchers share one or two cores with the server, so each one parses its bytes
//! in place: the body chunks of the response are appended to a buffer, complete lines are
//! consumed, and a frame is produced at each blank line. Lines may end in `\n`, `\r\n` or
//! `\r` (the SSE grammar); comment lines (`: heartbeat`) are counted, not returned; a frame
//! with neither `event:` nor `data:` is dropped, as the SSE dispatch rules say.

/// One dispatched SSE frame.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frame {
    /// `id:`, when the frame had one.
    pub id: Option<String>,
    /// `event:`, when the frame had one (SSE's default type is `message`).
    pub event: Option<String>,
    /// Every `data:` line, joined by `\n`.
    pub data: String,
}

/// Parser state: the bytes of an incomplete line and the frame being assembled.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes received after the last complete line.
    pending: Vec<u8>,
    /// The frame the lines seen since the last blank line make up.
    current: Frame,
    /// Whether `current` has a `data:` line yet (an empty one counts).
    has_data: bool,
    /// The previous chunk ended in `\r`: a `\n` starting the next one belongs to it.
    after_cr: bool,
    /// Comment lines seen (the server's heartbeats).
    pub comments: u64,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds `chunk` and appends every frame it completes to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<Frame>) {
        if chunk.is_empty() {
            return;
        }
        let mut chunk = chunk;
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
        }
        let mut start = 0;
        let mut i = 0;
        while i < chunk.len() {
            let b = chunk[i];
            if b == b'\n' || b == b'\r' {
                if self.pending.is_empty() {
                    self.line(&chunk[start..i], out);
                } else {
                    let mut line = std::mem::take(&mut self.pending);
                    line.extend_from_slice(&chunk[start..i]);
                    self.line(&line, out);
                }
                if b == b'\r' {
                    if i + 1 == chunk.len() {
                        self.after_cr = true;
                    } else if chunk[i + 1] == b'\n' {
                        i += 1;
                    }
                }
                start = i + 1;
            }
            i += 1;
        }
        self.pending.extend_from_slice(&chunk[start..]);
    }

    /// Handles one complete line (without its terminator).
    fn line(&mut self, line: &[u8], out: &mut Vec<Frame>) {
        if line.is_empty() {
            let frame = std::mem::take(&mut self.current);
            if self.has_data || frame.event.is_some() {
                out.push(frame);
            }
            self.has_data = false;
            return;
        }
        if line[0] == b':' {
            self.comments += 1;
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"id" => self.current.id = Some(value.into_owned()),
            b"event" => self.current.event = Some(value.into_owned()),
            b"data" => {
                if self.has_data {
                    self.current.data.push('\n');
                }
                self.current.data.push_str(&value);
                self.has_data = true;
            }
            // `retry:` and unknown fields change nothing the benchmark looks at.
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_chunks(chunks: &[&[u8]]) -> (Vec<Frame>, u64) {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for c in chunks {
            p.push(c, &mut out);
        }
        (out, p.comments)
    }

    fn frame(id: &str, event: &str, data: &str) -> Frame {
        Frame {
            id: Some(id.to_owned()),
            event: Some(event.to_owned()),
            data: data.to_owned(),
        }
    }

    #[test]
    fn frames_and_heartbeats() {
        let stream = b"id: 7\nevent: ready\ndata: {\"seq\":7}\n\n: heartbeat\n\nid: 9\nevent: pointer_moved\ndata: {\"a\":1}\n\n";
        let (frames, comments) = parse_chunks(&[stream]);
        assert_eq!(
            frames,
            vec![
                frame("7", "ready", "{\"seq\":7}"),
                frame("9", "pointer_moved", "{\"a\":1}")
            ]
        );
        assert_eq!(comments, 1);
    }

    #[test]
    fn split_anywhere_gives_the_same_frames() {
        let stream: &[u8] =
            b"id: 1\r\nevent: a\r\ndata: x\r\ndata: y\r\n\r\nid:2\revent:b\rdata:z\r\r";
        let (whole, _) = parse_chunks(&[stream]);
        assert_eq!(whole, vec![frame("1", "a", "x\ny"), frame("2", "b", "z")]);
        for cut in 0..stream.len() {
            let (a, b) = stream.split_at(cut);
            assert_eq!(parse_chunks(&[a, b]).0, whole, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(parse_chunks(&bytes).0, whole);
    }

    #[test]
    fn a_block_without_event_or_data_is_not_a_frame() {
        let (frames, _) = parse_chunks(&[b"id: 3\n\nretry: 10\n\n"]);
        assert!(frames.is_empty());
        let (frames, _) = parse_chunks(&[b"data\n\n"]);
        assert_eq!(
            frames,
            vec![Frame {
                id: None,
                event: None,
                data: String::new()
            }]
        );
    }

    #[test]
    fn an_incomplete_frame_waits_for_its_blank_line() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        p.push(b"id: 4\nevent: pointer_moved\ndata: {}\n", &mut out);
        assert!(out.is_empty());
        p.push(b"\n", &mut out);
        assert_eq!(out, vec![frame("4", "pointer_moved", "{}")]);
    }
}
