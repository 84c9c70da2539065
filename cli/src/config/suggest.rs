//! "Did you mean ...?" for unknown config keys: the nearest known key by
//! edit distance, when it is near enough to be a typo.

/// The known key closest to `key`, if a typo could explain the difference:
/// at most 1 edit for keys up to 4 characters, 2 up to 8, else 3, compared
/// without regard to case. Ties go to the first in `known`. Keys longer
/// than [`MAX_KEY`] characters get no suggestion.
pub(crate) fn nearest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let key = key.to_lowercase();
    let limit = match key.chars().count() {
        0 => return None,
        n if n > MAX_KEY => return None,
        1..=4 => 1,
        5..=8 => 2,
        _ => 3,
    };
    known
        .iter()
        .map(|k| (distance(&key, &k.to_lowercase()), *k))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, k)| k)
}

/// The longest key compared: no config key is near this long, and a hostile
/// key of a megabyte must not cost a table of its length squared.
const MAX_KEY: usize = 64;

/// The Damerau-Levenshtein distance (optimal string alignment) between
/// `a` and `b`, in characters: insertions, deletions, substitutions and
/// swaps of two neighbours each cost 1.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        d[i * width] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_the_key_they_meant() {
        let root = ["tcpTunnelListens", "tcpTunnelConnects", "weAreServer"];
        assert_eq!(nearest("tcpTunelListens", &root), Some("tcpTunnelListens"));
        assert_eq!(
            nearest("tcptunnelconnect", &root),
            Some("tcpTunnelConnects")
        );
        assert_eq!(nearest("weAreSevrer", &root), Some("weAreServer"));
        assert_eq!(nearest("extra", &root), None);
        assert_eq!(nearest("", &root), None);
        assert_eq!(nearest("lvl", &["level"]), None);
        assert_eq!(nearest("levl", &["level"]), Some("level"));
        assert_eq!(nearest(&"x".repeat(100_000), &root), None);
    }

    #[test]
    fn distance_counts_edits_and_swaps() {
        assert_eq!(distance("abc", "abc"), 0);
        assert_eq!(distance("abc", "acb"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
