//! ``transforms.stem``: Larkey's light10 stems of folded text (one article or conjunction
//! prefix, then the common suffixes), the words split as ``stem_text`` splits them.

/// A light stemmer: ``(prefix, shortest word it is stripped from)`` longest first, and suffixes
/// stripped in order while three letters remain.
pub struct Stemmer {
    prefixes: Vec<(Vec<char>, usize)>,
    suffixes: Vec<Vec<char>>,
}

impl Stemmer {
    pub fn new(prefixes: Vec<(String, usize)>, suffixes: Vec<String>) -> Stemmer {
        Stemmer {
            prefixes: prefixes
                .into_iter()
                .map(|(p, min)| (p.chars().collect(), min))
                .collect(),
            suffixes: suffixes.into_iter().map(|s| s.chars().collect()).collect(),
        }
    }

    /// ``light_stem``: the stem of one folded word (other words come back unchanged).
    pub fn stem<'a>(&self, word: &'a [char]) -> &'a [char] {
        let mut word = word;
        for (prefix, minimum) in &self.prefixes {
            if word.starts_with(prefix) && word.len() >= *minimum {
                word = &word[prefix.len()..];
                break;
            }
        }
        for suffix in &self.suffixes {
            if word.ends_with(suffix) && word.len() >= suffix.len() + 3 {
                word = &word[..word.len() - suffix.len()];
            }
        }
        word
    }

    /// ``stem_text``: the stems of the words of a folded text, space separated. Words are the
    /// matches of ``[\u0621-\u064a]+|[^\W\d_]+|\d+`` (Arabic letters; other letters, which may
    /// run on into Arabic ones; digits).
    pub fn stem_text(&self, folded: &str) -> String {
        let chars: Vec<char> = folded.chars().collect();
        let arabic = |c: char| ('\u{0621}'..='\u{064A}').contains(&c);
        let letter = |c: char| crate::text::is_alnum(c) && !crate::text::is_decimal(c);
        let mut out = String::with_capacity(folded.len());
        let mut at = 0;
        while at < chars.len() {
            let c = chars[at];
            let inside: &dyn Fn(char) -> bool = if arabic(c) {
                &arabic
            } else if letter(c) {
                &letter
            } else if crate::text::is_decimal(c) {
                &crate::text::is_decimal
            } else {
                at += 1;
                continue;
            };
            let end = chars[at..]
                .iter()
                .position(|&c| !inside(c))
                .map_or(chars.len(), |n| at + n);
            if !out.is_empty() {
                out.push(' ');
            }
            out.extend(self.stem(&chars[at..end]));
            at = end;
        }
        out
    }
}
