//! Canonical names of entity mentions and the countries an article mentions, as
//! ``transforms/entities.py`` defines them (``Canonicalizer``, ``facets``).
//!
//! Per text: count the feature forms of every mention's words -> per mention, drop the
//! proclitics of its first word unless they belong to the name (the reading best attested as a
//! name wins), then map the name through the variant table (whole name, else word by word, keys
//! folded) -> a short person or organization name takes the longer name of the same type and
//! text that contains it. Countries: locations that are countries, and nationality adjectives
//! outside person names, in text order.

use std::collections::{HashMap, HashSet};

use ahash::RandomState;

use crate::fold::Folder;
use crate::ner::{proclitic_splits, strip_article};
use crate::text;

type Map<K, V> = HashMap<K, V, RandomState>;

/// One mention: its span in the text and its canonical name.
pub struct Mention {
    pub start: usize,
    pub end: usize,
    pub type_: String,
    pub canonical: String,
}

pub struct Canonicalizer {
    pub folder: Folder,
    /// Folded variant -> canonical display name (``config/gazetteers/variants.tsv``).
    variants: Map<String, String>,
    /// Feature form -> how often it is attested as (part of) a name.
    name_counts: Map<String, i64>,
    /// Folded country names.
    countries: HashSet<String, RandomState>,
}

/// Python's ``str.split()``: runs of white space separate, none at the ends.
fn split_whitespace(text: &str) -> impl Iterator<Item = &str> {
    text.split(text::is_space).filter(|word| !word.is_empty())
}

fn char_slice(text: &str, from: usize) -> &str {
    text.char_indices().nth(from).map_or("", |(at, _)| &text[at..])
}

impl Canonicalizer {
    pub fn new(
        folder: Folder,
        variants: Vec<(String, String)>,
        name_counts: Map<String, i64>,
        countries: Vec<String>,
    ) -> Canonicalizer {
        let variants = variants
            .into_iter()
            .map(|(variant, canonical)| (folder.fold(&variant), canonical))
            .collect();
        let countries = countries.iter().map(|name| folder.fold(name)).collect();
        Canonicalizer {
            folder,
            variants,
            name_counts,
            countries,
        }
    }

    /// Index in ``word`` after its first ``letters`` feature-form letters (diacritics skipped).
    fn display_offset(word: &str, letters: usize) -> usize {
        if letters == 0 {
            return 0;
        }
        let mut seen = 0;
        for (index, c) in word.chars().enumerate() {
            let mut buffer = [0u8; 4];
            if !text::feature_form(c.encode_utf8(&mut buffer)).is_empty() {
                seen += 1;
                if seen == letters {
                    return index + 1;
                }
            }
        }
        word.chars().count()
    }

    /// ``strip_first_word``: (characters to drop from the span, canonical first word).
    fn strip_first_word(&self, word: &str, form: &str, local_counts: &Map<String, i64>) -> (usize, String) {
        let score = |candidate: &str| {
            self.name_counts.get(candidate).copied().unwrap_or(0)
                + 5 * local_counts.get(candidate).copied().unwrap_or(0)
        };
        let (mut best, mut best_score) = (form.to_string(), score(form));
        for (_, rest) in proclitic_splits(form).into_iter().skip(1) {
            for reading in [rest.as_str(), strip_article(&rest)] {
                if score(reading) > best_score {
                    (best, best_score) = (reading.to_string(), score(reading));
                }
            }
        }
        if best == form {
            return (0, word.to_string());
        }
        let (form_len, best_len) = (form.chars().count(), best.chars().count());
        if form.ends_with(&best) {
            let cut = Self::display_offset(word, form_len - best_len);
            return (cut, char_slice(word, cut).to_string());
        }
        // للأمم: the preposition ل swallowed the alef of the article; give it back, and keep
        // the ل in the span since it is now the article's.
        let letters = form_len - best_len + 1;
        (
            Self::display_offset(word, letters - 1),
            format!("ا{}", char_slice(word, Self::display_offset(word, letters))),
        )
    }

    /// ``variant``: whole-name variant first, else word by word.
    fn variant(&self, name: &str) -> String {
        if let Some(canonical) = self.variants.get(&self.folder.fold(name)) {
            return canonical.clone();
        }
        let words: Vec<&str> = name
            .split(' ')
            .map(|w| self.variants.get(&self.folder.fold(w)).map_or(w, String::as_str))
            .collect();
        let joined = words.join(" ");
        self.variants.get(&self.folder.fold(&joined)).cloned().unwrap_or(joined)
    }

    /// ``canonicalize``: canonical names of the mentions of ``text`` (their starts lose the
    /// proclitics that are no part of the name); ``form`` is the feature form of a word.
    pub fn canonicalize(&self, text: &str, mentions: &mut [Mention], form: impl Fn(&str) -> String) {
        let chars: Vec<char> = text.chars().collect();
        let span = |m: &Mention| chars[m.start..m.end].iter().collect::<String>();
        let mut local_counts: Map<String, i64> = Map::default();
        for mention in mentions.iter() {
            for word in split_whitespace(&span(mention)) {
                *local_counts.entry(form(word)).or_default() += 1;
            }
        }
        for mention in mentions.iter_mut() {
            let span_text = span(mention);
            let words: Vec<&str> = span_text.split(' ').collect();
            let (cut, first) = self.strip_first_word(words[0], &form(words[0]), &local_counts);
            mention.start += cut;
            let name = std::iter::once(first.as_str())
                .chain(words[1..].iter().copied())
                .collect::<Vec<_>>()
                .join(" ");
            mention.canonical = self.variant(&name);
        }
        for type_ in ["PER", "ORG"] {
            self.resolve_short_forms(mentions, type_);
        }
    }

    /// A person or organization name inside a longer one of the same type and text takes it.
    fn resolve_short_forms(&self, mentions: &mut [Mention], type_: &str) {
        let of_type: Vec<usize> = (0..mentions.len()).filter(|&k| mentions[k].type_ == type_).collect();
        let full_names: Vec<Vec<String>> = of_type
            .iter()
            .map(|&k| {
                self.folder
                    .fold(&mentions[k].canonical)
                    .split(' ')
                    .map(str::to_string)
                    .collect()
            })
            .collect();
        for (i, &k) in of_type.iter().enumerate() {
            let words = &full_names[i];
            let candidates: Vec<(usize, String)> = full_names
                .iter()
                .enumerate()
                .filter(|(_, longer)| longer.len() > words.len() && longer.windows(words.len()).any(|w| w == words))
                .map(|(j, _)| (j, mentions[of_type[j]].canonical.clone()))
                .collect();
            if let Some((_, name)) = candidates.iter().rev().find(|(j, _)| *j < i) {
                mentions[k].canonical = name.clone();
            } else if !candidates.is_empty() && candidates.iter().all(|(_, name)| *name == candidates[0].1) {
                mentions[k].canonical = candidates[0].1.clone();
            }
        }
    }

    /// ``facets``' countries: locations that are countries (at their starts) and nationality
    /// adjectives (``nationalities``: at their starts in ``text``) outside person names, in
    /// order of position (then name), each once.
    pub fn countries(&self, mentions: &[Mention], nationalities: Vec<(usize, String)>) -> Vec<String> {
        let mut found: Vec<(usize, String)> = mentions
            .iter()
            .filter(|m| m.type_ == "LOC" && self.countries.contains(&self.folder.fold(&m.canonical)))
            .map(|m| (m.start, m.canonical.clone()))
            .collect();
        let persons: Vec<(usize, usize)> = mentions
            .iter()
            .filter(|m| m.type_ == "PER")
            .map(|m| (m.start, m.end))
            .collect();
        found.extend(
            nationalities
                .into_iter()
                .filter(|(at, _)| !persons.iter().any(|&(s, e)| s <= *at && *at < e)),
        );
        found.sort();
        let mut countries: Vec<String> = Vec::new();
        for (_, country) in found {
            if !countries.contains(&country) {
                countries.push(country);
            }
        }
        countries
    }
}
