//! Python's view of text, reproduced: the entity tagger's tokens (``_TOKEN_RE`` of
//! ``transforms/entities_features.py``), its sentences, ``feature_form`` and ``_shape``.
//!
//! Offsets are indices into the text's characters (code points), as Python's ``str`` counts
//! them. The character classes (``\w``, ``\d``, ``\s``, ``str.isdigit``, ``str.lower``) come
//! from the Unicode database of the CPython the tables were generated from (``pychars.rs``).

use std::sync::OnceLock;

use unicode_normalization::{IsNormalized, UnicodeNormalization};

use crate::pychars;

/// One character class of ``pychars``: a bitmap of the Basic Multilingual Plane and the ranges.
struct Class {
    bmp: Vec<u64>,
    ranges: &'static [(u32, u32)],
}

impl Class {
    fn new(ranges: &'static [(u32, u32)]) -> Class {
        let mut bmp = vec![0u64; 0x10000 / 64];
        for &(first, last) in ranges {
            for code in first..=last.min(0xFFFF) {
                bmp[code as usize / 64] |= 1 << (code % 64);
            }
        }
        Class { bmp, ranges }
    }

    fn contains(&self, c: char) -> bool {
        let code = c as u32;
        if code < 0x10000 {
            return self.bmp[code as usize / 64] & (1 << (code % 64)) != 0;
        }
        self.ranges
            .binary_search_by(|&(first, last)| {
                if last < code {
                    std::cmp::Ordering::Less
                } else if first > code {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .is_ok()
    }
}

struct Classes {
    alnum: Class,
    decimal: Class,
    digit: Class,
    space: Class,
    assigned: Class,
    /// Characters ``str.lower`` changes.
    cased: Class,
}

fn classes() -> &'static Classes {
    static CLASSES: OnceLock<Classes> = OnceLock::new();
    CLASSES.get_or_init(|| Classes {
        alnum: Class::new(&pychars::ALNUM),
        decimal: Class::new(&pychars::DECIMAL),
        digit: Class::new(&pychars::DIGIT),
        space: Class::new(&pychars::SPACE),
        assigned: Class::new(&pychars::ASSIGNED),
        cased: Class::new(&pychars::LOWERED),
    })
}

/// ``re``'s ``\w``.
pub fn is_word(c: char) -> bool {
    c == '_' || classes().alnum.contains(c)
}

/// ``str.isalnum`` of one character.
pub fn is_alnum(c: char) -> bool {
    classes().alnum.contains(c)
}

/// ``re``'s ``\d`` (``str.isdecimal``).
pub fn is_decimal(c: char) -> bool {
    classes().decimal.contains(c)
}

/// ``str.isdigit`` of one character.
pub fn is_digit(c: char) -> bool {
    classes().digit.contains(c)
}

/// ``re``'s ``\s`` (``str.isspace``).
pub fn is_space(c: char) -> bool {
    classes().space.contains(c)
}

/// The digits of the token pattern's numbers: ASCII, Arabic-Indic and Persian.
fn is_number_digit(c: char) -> bool {
    c.is_ascii_digit() || ('\u{0660}'..='\u{0669}').contains(&c) || ('\u{06F0}'..='\u{06F9}').contains(&c)
}

fn is_number_separator(c: char) -> bool {
    matches!(c, '.' | ',' | '\u{066B}' | '\u{066C}')
}

fn is_percent(c: char) -> bool {
    matches!(c, '%' | '\u{066A}')
}

/// Harakat, Quranic marks, tatweel and the zero-width (non-)joiners: inside words, never words.
fn is_mark(c: char) -> bool {
    matches!(c, '\u{0610}'..='\u{061A}' | '\u{064B}'..='\u{065F}' | '\u{0670}' | '\u{06D6}'..='\u{06ED}' | '\u{0640}' | '\u{200C}' | '\u{200D}')
}

/// Direction marks, zero-width space and BOM: they separate tokens and are none.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// ``(first digit index, end)`` of ``(?:[.,٫٬][digits]+)*`` from ``at``, while ``more`` allows it.
fn number_groups(chars: &[char], mut at: usize, more: impl Fn(usize) -> bool) -> usize {
    while at + 1 < chars.len() && more(at) && is_number_separator(chars[at]) && is_number_digit(chars[at + 1]) {
        at += 2;
        while at < chars.len() && is_number_digit(chars[at]) {
            at += 1;
        }
    }
    at
}

/// The ``(start, end)`` of every token, as ``_TOKEN_RE.finditer`` finds them: a number (with
/// decimal/thousand separators and a percent sign), a word (letters, digits, marks; a number
/// may follow a digit), or any other single visible character.
pub fn tokenize(chars: &[char]) -> Vec<(usize, usize)> {
    let n = chars.len();
    let mut tokens = Vec::with_capacity(n / 5);
    let mut at = 0;
    while at < n {
        let c = chars[at];
        let end = if is_number_digit(c) {
            let mut end = at + 1;
            while end < n && is_number_digit(chars[end]) {
                end += 1;
            }
            end = number_groups(chars, end, |_| true);
            if end < n && is_percent(chars[end]) {
                end += 1;
            }
            end
        } else if c != '_' && is_word(c) {
            let mut end = at + 1;
            while end < n && (is_word(chars[end]) || is_mark(chars[end])) {
                end += 1;
            }
            // (?<=\d): the groups and the percent sign only follow a digit.
            end = number_groups(chars, end, |k| is_decimal(chars[k - 1]));
            if end < n && is_decimal(chars[end - 1]) && is_percent(chars[end]) {
                end += 1;
            }
            end
        } else if !is_space(c) && !is_invisible(c) {
            at + 1
        } else {
            at += 1;
            continue;
        };
        tokens.push((at, end));
        at = end;
    }
    tokens
}

/// ``sentence_bounds``: ``(first, last exclusive)`` token indices of each sentence. A sentence
/// ends after ``. ! ? ؟``, before a token on a new line, and after ``max_tokens`` tokens.
pub fn sentence_bounds(chars: &[char], tokens: &[(usize, usize)], max_tokens: usize) -> Vec<(usize, usize)> {
    let mut bounds = Vec::new();
    let (mut first, mut previous_end) = (0, 0);
    for (i, &(start, end)) in tokens.iter().enumerate() {
        if i > first && chars[previous_end..start].contains(&'\n') {
            bounds.push((first, i));
            first = i;
        }
        previous_end = end;
        let sentence_end = end - start == 1 && matches!(chars[start], '.' | '!' | '?' | '؟');
        if sentence_end || i + 1 - first >= max_tokens {
            bounds.push((first, i + 1));
            first = i + 1;
        }
    }
    if first < tokens.len() {
        bounds.push((first, tokens.len()));
    }
    bounds
}

/// ``_FEATURE_LETTERS``: one alef, yaa and haa; Arabic punctuation and digits as ASCII.
fn feature_letter(c: char) -> Option<&'static str> {
    Some(match c {
        'أ' | 'إ' | 'آ' | 'ٱ' => "ا",
        'ى' | 'ی' => "ي",
        'ة' | 'ھ' => "ه",
        'ک' => "ك",
        '،' => ",",
        '؛' => ";",
        '؟' => "?",
        '٪' => "%",
        '٫' => ".",
        '«' | '»' | '“' | '”' | '„' | '″' => "\"",
        '‘' | '’' => "'",
        '–' | '—' => "-",
        'ـ' => "",
        '\u{0660}'..='\u{0669}' => DIGITS[c as usize - 0x0660],
        '\u{06F0}'..='\u{06F9}' => DIGITS[c as usize - 0x06F0],
        _ => return None,
    })
}

const DIGITS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// The lower case of one character when it has one (``str.lower`` without its Final_Sigma rule).
pub fn lower_char(c: char) -> Option<&'static str> {
    if c.is_ascii() {
        return c.is_ascii_uppercase().then(|| ASCII_LOWER[c as usize - 'A' as usize]);
    }
    if !classes().cased.contains(c) {
        return None;
    }
    pychars::LOWER
        .binary_search_by_key(&(c as u32), |&(code, _)| code)
        .ok()
        .map(|found| pychars::LOWER[found].1)
}

const ASCII_LOWER: [&str; 26] = [
    "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s", "t", "u", "v", "w",
    "x", "y", "z",
];

/// ``str.lower``: one-character mappings from Python's table; a capital sigma needs its
/// neighbours (Final_Sigma), which Rust's ``to_lowercase`` reads by the same rule.
pub fn python_lower(text: &str) -> String {
    if text.contains('Σ') {
        return text.to_lowercase();
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match lower_char(c) {
            Some(lowered) => out.push_str(lowered),
            None => out.push(c),
        }
    }
    out
}

/// ``unicodedata.normalize("NFKC", text)`` of Python's Unicode version: code points unassigned
/// there have no decomposition and compose with nothing, so they split the text into runs that
/// the (newer) normalizer of the crate handles alike, and stay as they are.
pub fn python_nfkc(text: &str) -> String {
    if is_python_nfkc(text) {
        return text.to_string();
    }
    python_nfkc_slow(text)
}

fn python_nfkc_slow(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = 0;
    for (at, c) in text.char_indices() {
        if !classes().assigned.contains(c) {
            out.extend(text[run..at].nfkc());
            out.push(c);
            run = at + c.len_utf8();
        }
    }
    out.extend(text[run..].nfkc());
    out
}

/// Characters NFKC leaves alone whatever surrounds them: quick-check Yes and combining class 0.
fn nfkc_inert() -> &'static [u64] {
    static INERT: OnceLock<Vec<u64>> = OnceLock::new();
    INERT.get_or_init(|| {
        let mut bitmap = vec![0u64; 0x10000 / 64];
        for code in 0..0x10000u32 {
            let Some(c) = char::from_u32(code) else { continue };
            let alone = unicode_normalization::is_nfkc_quick(std::iter::once(c)) == IsNormalized::Yes;
            if alone && unicode_normalization::char::canonical_combining_class(c) == 0 {
                bitmap[code as usize / 64] |= 1 << (code % 64);
            }
        }
        bitmap
    })
}

/// ``unicodedata.is_normalized("NFKC", text)``. Text already NFKC in the crate's (newer) Unicode
/// is NFKC in Python's older one too: every character it has, it had then unchanged.
pub fn is_python_nfkc(text: &str) -> bool {
    let inert = nfkc_inert();
    let fast = text.chars().all(|c| {
        let code = c as usize;
        code < 0x10000 && inert[code / 64] & (1 << (code % 64)) != 0
    });
    fast || unicode_normalization::is_nfkc_quick(text.chars()) == IsNormalized::Yes || python_nfkc_slow(text) == text
}

/// ``feature_form``: NFKC, no diacritics/tatweel, one alef/yaa/haa, ASCII digits, lower case.
pub fn feature_form(word: &str) -> String {
    let mut folded = String::with_capacity(word.len());
    for c in python_nfkc(word).chars() {
        if is_mark(c) {
            continue;
        }
        match feature_letter(c) {
            Some(replacement) => folded.push_str(replacement),
            None => folded.push(c),
        }
    }
    python_lower(&folded)
}

fn is_arabic(c: char) -> bool {
    ('\u{0600}'..='\u{06FF}').contains(&c) || ('\u{0750}'..='\u{077F}').contains(&c)
}

/// ``_shape``: coarse word shape (num, ar, Lat, lat, p<punctuation>, mix) of the word as written.
pub fn shape(word: &str) -> String {
    let any_digit = word.chars().any(is_digit);
    let number = any_digit
        && word
            .chars()
            .all(|c| is_digit(c) || matches!(c, '.' | ',' | '%' | '٫' | '٬'));
    if number {
        return "num".into();
    }
    if word.chars().all(is_arabic) {
        return "ar".into();
    }
    if !word.is_empty() && word.chars().all(|c| c.is_ascii_alphabetic()) {
        return if word.starts_with(|c: char| c.is_ascii_uppercase()) {
            "Lat"
        } else {
            "lat"
        }
        .into();
    }
    let mut chars = word.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        if !is_alnum(c) {
            let mapped = feature_letter(c).map_or_else(|| c.to_string(), str::to_string);
            return format!("p{mapped}");
        }
    }
    "mix".into()
}
