//! Reads the decoded messages of a `sessionN.md` transcript: for each ttrpc
//! message, its direction, connection, header offset and the NRI message as
//! upstream's protojson printed it.

use serde_json::Value;

/// One decoded message of a transcript.
#[derive(Debug)]
pub struct Decoded {
    /// `true` for plugin to runtime.
    pub from_plugin: bool,
    pub conn: u32,
    pub header_offset: usize,
    /// Full name of the NRI message type, from the `// type` line.
    pub type_name: String,
    pub json: Value,
}

/// Parses every "### N. direction, conn C, …" section that has a JSON block.
pub fn decoded_messages(markdown: &str) -> Result<Vec<Decoded>, String> {
    let mut out = Vec::new();
    let mut lines = markdown.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(heading) = line.strip_prefix("### ") else {
            continue;
        };
        let from_plugin = heading.contains("plugin→runtime");
        let conn = heading
            .split(", ")
            .find_map(|part| part.strip_prefix("conn "))
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("no conn in heading {heading:?}"))?;
        let mut header_offset = None;
        let mut json_text = None;
        while let Some(next) = lines.peek() {
            if next.starts_with("### ") || next.starts_with("## ") {
                break;
            }
            let next = lines.next().unwrap_or_default();
            if let Some(rest) = next.strip_prefix("ttrpc header at file offset 0x") {
                let hex: String = rest.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
                header_offset = usize::from_str_radix(&hex, 16).ok();
            } else if next.starts_with("```json") {
                let mut block = Vec::new();
                for body in lines.by_ref() {
                    if body.starts_with("```") {
                        break;
                    }
                    block.push(body);
                }
                json_text = Some(block);
            }
        }
        let (Some(header_offset), Some(block)) = (header_offset, json_text) else {
            continue;
        };
        let type_name = block
            .iter()
            .find_map(|l| l.trim().strip_prefix("// "))
            .ok_or_else(|| format!("no type line in section {heading:?}"))?
            .to_string();
        let body: String = block
            .iter()
            .filter(|l| !l.trim_start().starts_with("//"))
            .copied()
            .collect::<Vec<_>>()
            .join("\n");
        let json = serde_json::from_str(&body)
            .map_err(|e| format!("section {heading:?}: bad JSON: {e}"))?;
        out.push(Decoded {
            from_plugin,
            conn,
            header_offset,
            type_name,
            json,
        });
    }
    Ok(out)
}
