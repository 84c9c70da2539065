//! The hostile deployment's logs, summarised: an attack makes the server
//! log a line per refused connection or closed link (where it does not
//! limit itself), so the lines are counted by kind (digits and addresses
//! blanked) instead of being passed on one by one.

use std::collections::BTreeMap;

/// Longest line kept as an example of its kind.
const LINE: usize = 240;

/// (lines in all, the `top` most frequent kinds as (count, example with
/// digits blanked), most frequent first).
pub fn kinds(lines: &[String], top: usize) -> (usize, Vec<(usize, String)>) {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for l in lines {
        *counts.entry(blank_digits(l)).or_insert(0) += 1;
    }
    let mut by_count: Vec<(usize, String)> = counts.into_iter().map(|(k, n)| (n, k)).collect();
    by_count.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    by_count.truncate(top);
    for (_, line) in &mut by_count {
        if line.len() > LINE {
            let mut end = LINE;
            while !line.is_char_boundary(end) {
                end -= 1;
            }
            line.truncate(end);
            line.push('…');
        }
    }
    (lines.len(), by_count)
}

/// Every run of digits as one `#`: times, ports, link and stream numbers.
fn blank_digits(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_number = false;
    for c in line.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                out.push('#');
            }
            in_number = true;
        } else {
            out.push(c);
            in_number = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_by_kind() {
        let lines: Vec<String> = [
            "server: 12:00:01 WARN refused a connection from 127.0.0.1:40001",
            "server: 12:00:02 WARN refused a connection from 127.0.0.1:40002",
            "server: 12:00:02 WARN closing link-7: protocol violation",
            "server: 12:00:03 WARN refused a connection from 127.0.0.1:41234",
        ]
        .map(String::from)
        .to_vec();
        let (n, k) = kinds(&lines, 5);
        assert_eq!(n, 4);
        assert_eq!(
            k,
            [
                (
                    3,
                    "server: #:#:# WARN refused a connection from #.#.#.#:#".to_string()
                ),
                (
                    1,
                    "server: #:#:# WARN closing link-#: protocol violation".into()
                ),
            ]
        );
        assert_eq!(kinds(&lines, 1).1.len(), 1);
        let long = vec!["é".repeat(300)];
        assert!(kinds(&long, 1).1[0].1.ends_with('…'));
    }
}
