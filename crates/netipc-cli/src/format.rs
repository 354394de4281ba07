//! Output formatting: the snapshot table, its JSON form, durations and
//! byte strings shown to a person.
//!
//! Nothing here knows about sockets: rows come in as plain [`Row`] values,
//! so the formatting is tested on its own.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::Duration;

/// One cgroup as printed by `snapshot`, `lookup` and `demo`: the codec's
/// item.
pub type Row<'a> = netipc::codec::cgroups::CgroupItem<'a>;

/// The snapshot-wide fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotSummary {
    /// The snapshot's generation.
    pub generation: u64,
    /// The snapshot's `systemd_enabled` field.
    pub systemd_enabled: u32,
    /// Number of cgroups.
    pub item_count: usize,
}

/// Widest NAME column; longer names push the PATH column right on their
/// own line instead of widening every line.
const MAX_NAME_WIDTH: usize = 56;

/// Text for a raw byte string: invalid UTF-8 is replaced by U+FFFD and
/// control characters are escaped (`\t`, `\n`, `\x1b`), so a cgroup name
/// can never break a table line or a terminal.
pub fn display_bytes(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if !text.chars().any(char::is_control) {
        return text.into_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// Writes the header line of a snapshot: generation, systemd flag, count.
pub fn write_summary(out: &mut impl Write, s: &SnapshotSummary) -> io::Result<()> {
    writeln!(
        out,
        "generation {}, systemd_enabled {}, {} {}",
        s.generation,
        s.systemd_enabled,
        s.item_count,
        plural(s.item_count, "cgroup", "cgroups")
    )
}

/// Writes the table of cgroups: a header and one line per row, columns
/// HASH, OPTIONS, ENABLED, NAME, PATH. With `limit`, at most that many rows
/// are printed, followed by `… N more` when rows were left out. Every line
/// starts with `indent`.
pub fn write_table<'a>(
    out: &mut impl Write,
    rows: &[Row<'a>],
    limit: Option<usize>,
    indent: &str,
) -> io::Result<()> {
    let shown = limit.map_or(rows.len(), |l| l.min(rows.len()));
    let names: Vec<String> = rows[..shown]
        .iter()
        .map(|r| display_bytes(r.name))
        .collect();
    let width = names
        .iter()
        .map(|n| n.chars().count())
        .filter(|&w| w <= MAX_NAME_WIDTH)
        .max()
        .unwrap_or(0)
        .max("NAME".len());
    writeln!(
        out,
        "{indent}{:<10}  {:<7}  {:<7}  {:<width$}  PATH",
        "HASH", "OPTIONS", "ENABLED", "NAME"
    )?;
    for (row, name) in rows[..shown].iter().zip(&names) {
        let line = format!(
            "{indent}{:<10}  {:<7}  {:<7}  {:<width$}  {}",
            hex32(row.hash),
            format!("{:#x}", row.options),
            row.enabled,
            name,
            display_bytes(row.path),
        );
        writeln!(out, "{}", line.trim_end())?;
    }
    if shown < rows.len() {
        let more = rows.len() - shown;
        writeln!(
            out,
            "{indent}… {more} more {} (`netipc snapshot` lists them all)",
            plural(more, "cgroup", "cgroups")
        )?;
    }
    Ok(())
}

/// Writes the snapshot as one JSON object:
///
/// ```json
/// {"generation":1,"systemd_enabled":1,"item_count":1,"items":[
/// {"hash":705468254,"hash_hex":"0x2a0c975e","options":4,"enabled":0,"name":"/","path":"/sys/fs/cgroup"}
/// ]}
/// ```
///
/// Names and paths are JSON strings; bytes that are not valid UTF-8 become
/// U+FFFD.
pub fn write_json<'a>(
    out: &mut impl Write,
    summary: &SnapshotSummary,
    rows: impl IntoIterator<Item = Row<'a>>,
) -> io::Result<()> {
    write!(
        out,
        "{{\"generation\":{},\"systemd_enabled\":{},\"item_count\":{},\"items\":[",
        summary.generation, summary.systemd_enabled, summary.item_count
    )?;
    let mut first = true;
    for row in rows {
        out.write_all(if first { b"\n" } else { b",\n" })?;
        first = false;
        write!(
            out,
            "{{\"hash\":{},\"hash_hex\":\"{}\",\"options\":{},\"enabled\":{},\"name\":{},\"path\":{}}}",
            row.hash,
            hex32(row.hash),
            row.options,
            row.enabled,
            json_string(row.name),
            json_string(row.path)
        )?;
    }
    out.write_all(if first { b"]}\n" } else { b"\n]}\n" })
}

/// A JSON string literal for raw bytes (lossy UTF-8).
pub fn json_string(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `0x` and eight lowercase hex digits.
pub fn hex32(v: u32) -> String {
    format!("{v:#010x}")
}

/// `0x` and sixteen lowercase hex digits.
pub fn hex64(v: u64) -> String {
    format!("{v:#018x}")
}

/// A latency for people: `850 ns`, `12.3 µs`, `4.56 ms`, `1.20 s`.
pub fn duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{:.1} µs", ns as f64 / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.2} ms", ns as f64 / 1e6)
    } else {
        format!("{:.2} s", ns as f64 / 1e9)
    }
}

/// An interval in seconds: `1 s`, `0.25 s`, `86400 s`.
pub fn seconds(d: Duration) -> String {
    let text = format!("{:.3}", d.as_secs_f64());
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} s")
}

/// A count with thousands separators: `12,345`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A byte size: `512 B`, `6.0 KiB`, `1.5 MiB`.
pub fn bytes(n: u64) -> String {
    if n < 1024 {
        format!("{n} B")
    } else if n < 1024 * 1024 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0))
    }
}

/// `singular` when `n` is 1, else `plural`.
pub fn plural<'s>(n: usize, singular: &'s str, plural: &'s str) -> &'s str {
    if n == 1 {
        singular
    } else {
        plural
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row<'a>(name: &'a str, path: &'a str) -> Row<'a> {
        Row {
            hash: 0x2a0c_975e,
            options: 4,
            enabled: 1,
            name: name.as_bytes(),
            path: path.as_bytes(),
        }
    }

    fn render(rows: &[Row<'_>], limit: Option<usize>) -> String {
        let mut out = Vec::new();
        write_table(&mut out, rows, limit, "  ").unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn table_columns_line_up() {
        let rows = [
            row("/", "/sys/fs/cgroup"),
            row("system.slice", "/sys/fs/cgroup/system.slice"),
        ];
        let text = render(&rows, None);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(
            lines[0],
            "  HASH        OPTIONS  ENABLED  NAME          PATH"
        );
        assert_eq!(
            lines[1],
            "  0x2a0c975e  0x4      1        /             /sys/fs/cgroup"
        );
        let path_col = lines[0].find("PATH").unwrap();
        assert_eq!(lines[2].find("/sys").unwrap(), path_col);
    }

    #[test]
    fn table_truncates_with_a_count() {
        let rows: Vec<Row<'_>> = (0..25).map(|_| row("a", "/a")).collect();
        let text = render(&rows, Some(20));
        assert_eq!(text.lines().count(), 1 + 20 + 1);
        assert!(
            text.ends_with("  … 5 more cgroups (`netipc snapshot` lists them all)\n"),
            "{text}"
        );
        let all = render(&rows, Some(25));
        assert_eq!(all.lines().count(), 26);
        assert!(!all.contains('…'));
    }

    #[test]
    fn empty_table_has_a_header_only() {
        assert_eq!(render(&[], Some(20)).lines().count(), 1);
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(display_bytes(b"a b"), "a b");
        assert_eq!(display_bytes(b"a\tb\nc\x1b"), "a\\tb\\nc\\u{1b}");
        assert_eq!(display_bytes(b"caf\xc3\xa9 \xff"), "caf\u{e9} \u{fffd}");
    }

    #[test]
    fn json_strings_escape() {
        assert_eq!(json_string(b"plain"), "\"plain\"");
        assert_eq!(json_string(b"q\"b\\n\n\x01"), "\"q\\\"b\\\\n\\n\\u0001\"");
        assert_eq!(json_string("ü 😀".as_bytes()), "\"ü 😀\"");
        assert_eq!(json_string(b"\xff"), "\"\u{fffd}\"");
    }

    #[test]
    fn json_document_shape() {
        let summary = SnapshotSummary {
            generation: 3,
            systemd_enabled: 1,
            item_count: 2,
        };
        let mut out = Vec::new();
        write_json(&mut out, &summary, [row("/", "/r"), row("x y", "/r/x y")]).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("{\"generation\":3,\"systemd_enabled\":1,\"item_count\":2,\"items\":[\n{\"hash\":705468254,\"hash_hex\":\"0x2a0c975e\""), "{text}");
        assert!(
            text.ends_with("\"name\":\"x y\",\"path\":\"/r/x y\"}\n]}\n"),
            "{text}"
        );

        let mut empty = Vec::new();
        let none = SnapshotSummary {
            item_count: 0,
            ..summary
        };
        write_json(&mut empty, &none, []).unwrap();
        assert_eq!(
            String::from_utf8(empty).unwrap(),
            "{\"generation\":3,\"systemd_enabled\":1,\"item_count\":0,\"items\":[]}\n"
        );
    }

    #[test]
    fn numbers_for_people() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(duration(Duration::from_nanos(850)), "850 ns");
        assert_eq!(duration(Duration::from_nanos(12_345)), "12.3 µs");
        assert_eq!(duration(Duration::from_micros(4_560)), "4.56 ms");
        assert_eq!(duration(Duration::from_millis(1_200)), "1.20 s");
        assert_eq!(seconds(Duration::from_secs(1)), "1 s");
        assert_eq!(seconds(Duration::from_millis(250)), "0.25 s");
        assert_eq!(seconds(Duration::from_millis(50)), "0.05 s");
        assert_eq!(seconds(Duration::from_secs(86_400)), "86400 s");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(6 * 1024), "6.0 KiB");
        assert_eq!(bytes(3 * 1024 * 1024 / 2), "1.5 MiB");
        assert_eq!(hex32(0x2a), "0x0000002a");
        assert_eq!(hex64(0xf25f_3467_eb84_d6e6), "0xf25f3467eb84d6e6");
    }
}
