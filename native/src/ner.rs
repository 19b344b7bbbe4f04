//! The entity tagger's per-document work: word analysis, CRF items, crfsuite scoring and
//! Viterbi, and the two rules, as ``transforms/entities.py`` and ``entities_features.py``
//! define them (``Lexicon.analyse``, ``Lexicon.word_features``, ``CrfFeatures.items``,
//! ``extend_to_gazetteer``, ``propagate_in_document``, ``bio_spans``).
//!
//! Flow per text: tokens and sentences (``text``) -> a cached ``Word`` per distinct token (its
//! feature form, clitic key, gazetteer starts, the partial score of its own attributes and the
//! attribute ids it gives each neighbour) -> per sentence the gazetteer matches, the state
//! scores (attribute weights added in crfsuite's item order) and the Viterbi labels -> rules
//! -> entity spans. Training keeps the Python feature strings; both sides meet in the model's
//! attribute names, and ``tests/transforms/test_native_ner.py`` holds them to the same labels.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use ahash::RandomState;

use crate::crf::Model;
use crate::text;

type Map<K, V> = HashMap<K, V, RandomState>;
/// (left word id, right word id) -> the ids of ``w[-1:0]=left|right`` and ``w[0:1]=left|right``.
type Bigrams = Map<(u32, u32), [Option<u32>; 2]>;

pub const TYPES: [&str; 3] = ["PER", "ORG", "LOC"];
/// The context offsets of the CRF features (``OFFSETS``), as the attribute names write them.
const OFFSET_NAMES: [&str; 4] = ["-2", "-1", "1", "2"];
const CONJUNCTIONS: [char; 2] = ['و', 'ف'];
const PREPOSITIONS: [char; 3] = ['ب', 'ل', 'ك'];
const NO_FORM: u32 = u32::MAX;

/// The word lists the features look up (``Lexicon``), with forms already feature-folded.
pub struct Lexicon {
    pub counts: Map<String, i64>,
    pub classes: Map<String, Vec<String>>,
    /// Per type (``TYPES``): every name as its words' gazetteer-form ids, and the words of names.
    pub entries: [HashSet<Vec<u32>, RandomState>; 3],
    pub tokens: [HashSet<String, RandomState>; 3],
    /// Gazetteer form -> id (every word of every name).
    pub forms: Map<String, u32>,
    /// First word of a name -> the longest name of each type it starts (0: none).
    pub first_words: Map<String, [u32; 3]>,
    pub triggers: Map<String, String>,
    pub nationalities: Map<String, String>,
}

impl Lexicon {
    pub fn new(
        counts: Map<String, i64>,
        classes: Map<String, Vec<String>>,
        names: [Vec<Vec<String>>; 3],
        tokens: [HashSet<String, RandomState>; 3],
        triggers: Map<String, String>,
        nationalities: Map<String, String>,
    ) -> Lexicon {
        let mut forms: Map<String, u32> = Map::default();
        let mut first_words: Map<String, [u32; 3]> = Map::default();
        let mut entries: [HashSet<Vec<u32>, RandomState>; 3] = Default::default();
        for (t, type_names) in names.into_iter().enumerate() {
            for name in type_names {
                if name.is_empty() {
                    continue;
                }
                let longest = &mut first_words.entry(name[0].clone()).or_insert([0; 3])[t];
                *longest = (*longest).max(name.len() as u32);
                let ids = name
                    .into_iter()
                    .map(|form| {
                        let next = forms.len() as u32;
                        *forms.entry(form).or_insert(next)
                    })
                    .collect();
                entries[t].insert(ids);
            }
        }
        Lexicon {
            counts,
            classes,
            entries,
            tokens,
            forms,
            first_words,
            triggers,
            nationalities,
        }
    }

    fn count(&self, form: &str) -> i64 {
        self.counts.get(form).copied().unwrap_or(0)
    }

    /// ``WordClasses.key``: (proclitics, article-less word), stripping more only when clearly better
    /// attested; ``splits`` are the word's ``proclitic_splits``.
    fn key(&self, form: &str, splits: &[(String, String)]) -> (String, String) {
        let (mut best_prefix, mut best) = article_split(form);
        let mut best_count = self.count(&best);
        for (prefix, rest) in splits.iter().skip(1) {
            let (article, key) = article_split(rest);
            let count = self.count(&key);
            if count > 2 * best_count + 2 {
                (best_prefix, best, best_count) = (format!("{prefix}{article}"), key, count);
            }
        }
        (best_prefix, best)
    }

    /// ``Lexicon.nationality_stem``: the nationality adjective stem in a word's ``bare_stem``.
    fn nationality_stem(&self, stem: &str) -> Option<String> {
        for suffix in ["يين", "يون", "يان", "يه", "ي"] {
            if let Some(base) = stem.strip_suffix(suffix) {
                let candidate = format!("{base}ي");
                if self.nationalities.contains_key(&candidate) {
                    return Some(candidate);
                }
            }
        }
        None
    }

    /// A trigger word's kind (an empty kind counts as none, as Python's ``or`` reads it).
    fn trigger(&self, form: &str) -> Option<&String> {
        self.triggers.get(form).filter(|kind| !kind.is_empty())
    }
}

fn chars_len(s: &str) -> usize {
    s.chars().count()
}

/// The first ``n`` characters of ``s`` (all of it when shorter): Python's ``s[:n]``.
fn head(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

/// The last ``n`` characters of ``s``: Python's ``s[-n:]``.
fn tail(s: &str, n: usize) -> &str {
    let len = chars_len(s);
    if len <= n {
        return s;
    }
    let (at, _) = s.char_indices().nth(len - n).expect("inside");
    &s[at..]
}

/// ``strip_article``: ``form`` without a leading ال when at least two letters remain.
pub fn strip_article(form: &str) -> &str {
    match form.strip_prefix("ال") {
        Some(rest) if chars_len(rest) >= 2 => rest,
        _ => form,
    }
}

fn article_split(form: &str) -> (String, String) {
    let stripped = strip_article(form);
    (form[..form.len() - stripped.len()].to_string(), stripped.to_string())
}

/// ``proclitic_splits``: every (prefix, rest) reading, the unsplit one first.
pub fn proclitic_splits(form: &str) -> Vec<(String, String)> {
    let mut splits = vec![(String::new(), form.to_string())];
    for conj in [None, Some(CONJUNCTIONS[0]), Some(CONJUNCTIONS[1])] {
        let after_conj = match conj {
            None => form,
            Some(c) => match form.strip_prefix(c) {
                Some(rest) => rest,
                None => continue,
            },
        };
        let conj_text: String = conj.into_iter().collect();
        if conj.is_some() && chars_len(after_conj) >= 2 {
            splits.push((conj_text.clone(), after_conj.to_string()));
        }
        for prep in PREPOSITIONS {
            let Some(rest) = after_conj.strip_prefix(prep) else {
                continue;
            };
            if prep == 'ل' && rest.starts_with('ل') && chars_len(rest) > 2 {
                splits.push((format!("{conj_text}ل"), format!("ا{rest}")));
            } else if chars_len(rest) >= 2 {
                splits.push((format!("{conj_text}{prep}"), rest.to_string()));
            }
        }
    }
    splits
}

/// ``bare_stem``: greedy clitic stripping (proclitics, stem without article).
fn bare_stem(form: &str) -> (String, String) {
    let mut prefix = String::new();
    let mut rest = form;
    let first = |s: &str| s.chars().next();
    if chars_len(rest) > 3 && first(rest).is_some_and(|c| CONJUNCTIONS.contains(&c)) {
        let c = first(rest).expect("non-empty");
        prefix.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if chars_len(rest) > 3 && first(rest).is_some_and(|c| PREPOSITIONS.contains(&c)) {
        let c = first(rest).expect("non-empty");
        if c == 'ل' && rest[c.len_utf8()..].starts_with('ل') {
            return (prefix + "لل", rest["لل".len()..].to_string());
        }
        prefix.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if rest.starts_with("ال") && chars_len(rest) > 3 {
        prefix.push_str("ال");
        rest = &rest["ال".len()..];
    }
    (prefix, rest.to_string())
}

/// What tagging needs of one distinct word, computed once (``WordEntry`` and its rendered features).
pub struct Word {
    /// Gazetteer-form id of ``form`` (``NO_FORM`` if no name has that word).
    form_id: u32,
    /// Id of ``form`` among the words of the model's bigram attributes (``NO_FORM`` if none).
    bigram_id: u32,
    pub key: String,
    key_count: i64,
    pub country: Option<String>,
    /// Per type: (first word's form id, longest name) of every name this word may start.
    starts: [Vec<(u32, u32)>; 3],
    /// Scores of ``bias`` and the word's own attributes, added in item order.
    own: Vec<f64>,
    /// Per ``OFFSETS``: the attribute ids this word gives the token that far away.
    given: [Vec<u32>; 4],
}

/// Model attribute ids by name, the name assembled from parts in one reused buffer.
struct Names<'a> {
    model: &'a Model,
    buffer: String,
}

impl Names<'_> {
    fn id(&mut self, parts: &[&str]) -> Option<u32> {
        self.buffer.clear();
        parts.iter().for_each(|part| self.buffer.push_str(part));
        self.model.attributes.get(self.buffer.as_str()).copied()
    }
}

/// A gazetteer tag of ``gazetteer_tags``: (type index, B / I / multiword).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Tag {
    Begin(usize),
    Inside(usize),
    Multi(usize),
}

impl Tag {
    fn name(self) -> String {
        match self {
            Tag::Begin(t) => format!("gaz={}-B", TYPES[t]),
            Tag::Inside(t) => format!("gaz={}-I", TYPES[t]),
            Tag::Multi(t) => format!("gazm={}", TYPES[t]),
        }
    }
}

/// A BIO label: ``O`` or (inside, type).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Label {
    Out,
    Begin(usize),
    Inside(usize),
}

pub struct Tagger {
    pub model: Model,
    lexicon: Lexicon,
    /// Model label id -> ``Label``; entity type names (model types first, then gazetteer types).
    labels: Vec<Label>,
    pub types: Vec<String>,
    /// Per ``OFFSETS``: the ``w[offset]=<pad>`` ids outside the sentence.
    pads: [Vec<u32>; 4],
    /// Per tag: ids as the token's own, seen from the token after (``@-1``) and before (``@1``).
    tag_ids: Map<Tag, [Option<u32>; 3]>,
    /// Bigram word -> id, and (left id, right id) -> the ``w[-1:0]=`` and ``w[0:1]=`` attribute ids.
    bigram_words: Map<String, u32>,
    bigrams: Bigrams,
    /// Types of ``TYPES`` by their index in ``types``.
    gazetteer_types: [usize; 3],
    propagate_max_count: i64,
    pub max_sentence_tokens: usize,
    cache_size: usize,
    words: Mutex<Map<String, Arc<Word>>>,
}

/// One analysed sentence: its words and the longest gazetteer name of each type at each position.
struct Sentence {
    words: Vec<Arc<Word>>,
    matches: Vec<(usize, [u32; 3])>,
}

impl Tagger {
    pub fn new(
        model: Model,
        lexicon: Lexicon,
        propagate_max_count: i64,
        max_sentence_tokens: usize,
        cache_size: usize,
    ) -> Tagger {
        let mut types: Vec<String> = Vec::new();
        let type_index = |name: &str, types: &mut Vec<String>| match types.iter().position(|t| t == name) {
            Some(i) => i,
            None => {
                types.push(name.to_string());
                types.len() - 1
            }
        };
        let labels = model
            .labels
            .iter()
            .map(|label| match label.split_once('-') {
                Some(("B", t)) => Label::Begin(type_index(t, &mut types)),
                Some(("I", t)) => Label::Inside(type_index(t, &mut types)),
                _ => Label::Out,
            })
            .collect();
        let gazetteer_types = TYPES.map(|t| type_index(t, &mut types));
        let id = |name: &str| model.attributes.get(name).copied();
        let pads = OFFSET_NAMES.map(|offset| id(&format!("w[{offset}]=<pad>")).into_iter().collect());
        let mut tag_ids = Map::default();
        for t in 0..3 {
            for tag in [Tag::Begin(t), Tag::Inside(t), Tag::Multi(t)] {
                let name = tag.name();
                tag_ids.insert(tag, [id(&name), id(&format!("{name}@-1")), id(&format!("{name}@1"))]);
            }
        }
        let (bigram_words, bigrams) = bigram_index(&model);
        Tagger {
            model,
            lexicon,
            bigram_words,
            bigrams,
            labels,
            types,
            pads,
            tag_ids,
            gazetteer_types,
            propagate_max_count,
            max_sentence_tokens,
            cache_size,
            words: Mutex::new(Map::default()),
        }
    }

    /// ``Lexicon._new_entry`` and ``Lexicon.word_features`` of one word, rendered to model ids.
    fn analyse_word(&self, word: &str) -> Word {
        let lexicon = &self.lexicon;
        let form = text::feature_form(word);
        let splits = proclitic_splits(&form);
        let (prefix, stem) = bare_stem(&form);
        let (key_prefix, key) = lexicon.key(&form, &splits);
        let mut starts: [Vec<(u32, u32)>; 3] = Default::default();
        for (_, first) in &splits {
            if let Some(longest) = lexicon.first_words.get(first) {
                for t in 0..3 {
                    if longest[t] > 0 {
                        starts[t].push((lexicon.forms[first], longest[t]));
                    }
                }
            }
        }
        let nationality = lexicon.nationality_stem(&stem);
        let classes: &[String] = lexicon.classes.get(&key).map_or(&[], Vec::as_slice);
        let count = lexicon.count(&key);
        let frequency = ((64 - count.unsigned_abs().leading_zeros()) / 2).to_string();
        let length = chars_len(&stem).min(8).to_string();
        let shape = text::shape(word);
        let mut names = Names {
            model: &self.model,
            buffer: String::new(),
        };
        // ``Lexicon.word_features``' own features, in its order, added as crfsuite adds them.
        let mut own = vec![0.0; self.model.n_labels()];
        let mut add = |id: Option<u32>| {
            if let Some(id) = id {
                self.model.add(&mut own, id);
            }
        };
        add(names.id(&["bias"]));
        add(names.id(&["w=", &form]));
        add(names.id(&["stem=", &stem]));
        add(names.id(&["pre=", &prefix]));
        add(names.id(&["suf1=", tail(&form, 1)]));
        add(names.id(&["suf2=", tail(&form, 2)]));
        add(names.id(&["suf3=", tail(&form, 3)]));
        add(names.id(&["sp1=", head(&stem, 1)]));
        add(names.id(&["sp2=", head(&stem, 2)]));
        add(names.id(&["sp3=", head(&stem, 3)]));
        add(names.id(&["ss2=", tail(&stem, 2)]));
        add(names.id(&["len=", &length]));
        add(names.id(&["shape=", &shape]));
        add(names.id(&["key=", &key]));
        add(names.id(&["kpre=", &key_prefix]));
        add(names.id(&["fq=", &frequency]));
        for class in classes {
            add(names.id(&[class]));
        }
        for (t, tokens) in lexicon.tokens.iter().enumerate() {
            if tokens.contains(&stem) || tokens.contains(&form) || tokens.contains(&key) {
                add(names.id(&["gtok=", TYPES[t]]));
            }
        }
        let kind = lexicon
            .trigger(&form)
            .or_else(|| lexicon.trigger(&stem))
            .or_else(|| lexicon.trigger(&format!("ال{stem}")));
        if let Some(kind) = kind {
            add(names.id(&["trig=", kind]));
        }
        if nationality.is_some() {
            add(names.id(&["nat"]));
        }
        // What the word gives the tokens at each of ``OFFSETS``.
        let neighbour_kind = lexicon.trigger(&form).or_else(|| lexicon.trigger(&stem));
        let given = OFFSET_NAMES.map(|offset| {
            let mut ids = vec![
                names.id(&["w[", offset, "]=", &form]),
                names.id(&[offset, ":stem=", &stem]),
                names.id(&[offset, ":key=", &key]),
            ];
            ids.extend(
                classes
                    .iter()
                    .filter(|c| c.starts_with('k'))
                    .map(|c| names.id(&[offset, ":", c])),
            );
            if let Some(kind) = neighbour_kind {
                ids.push(names.id(&["trig[", offset, "]=", kind]));
            }
            ids.into_iter().flatten().collect()
        });
        Word {
            form_id: lexicon.forms.get(&form).copied().unwrap_or(NO_FORM),
            bigram_id: self.bigram_words.get(&form).copied().unwrap_or(NO_FORM),
            country: nationality.map(|stem| lexicon.nationalities[&stem].clone()),
            key_count: count,
            key,
            starts,
            own,
            given,
        }
    }

    /// The cached ``Word`` of every token; new words are analysed outside the lock.
    pub fn words<'a>(&self, tokens: impl Iterator<Item = &'a str>) -> Vec<Arc<Word>> {
        let tokens: Vec<&str> = tokens.collect();
        let mut found: Vec<Option<Arc<Word>>> = {
            let cache = self.words.lock().expect("word cache");
            tokens.iter().map(|word| cache.get(*word).cloned()).collect()
        };
        let mut fresh: Map<&str, Arc<Word>> = Map::default();
        for (word, entry) in tokens.iter().zip(found.iter_mut()) {
            if entry.is_none() {
                let analysed = fresh.entry(word).or_insert_with(|| Arc::new(self.analyse_word(word)));
                *entry = Some(analysed.clone());
            }
        }
        if !fresh.is_empty() {
            let mut cache = self.words.lock().expect("word cache");
            if cache.len() + fresh.len() > self.cache_size {
                cache.clear();
            }
            cache.extend(fresh.into_iter().map(|(word, entry)| (word.to_string(), entry)));
        }
        found
            .into_iter()
            .map(|entry| entry.expect("every token analysed"))
            .collect()
    }

    /// ``_match_length``: the longest name of one type at ``i``, from the word's starts.
    fn match_length(&self, t: usize, starts: &[(u32, u32)], words: &[Arc<Word>], i: usize) -> u32 {
        let mut best = 0;
        let mut key = Vec::new();
        for &(first, longest) in starts {
            let mut n = longest.min((words.len() - i) as u32);
            while n > best {
                key.clear();
                key.push(first);
                key.extend(words[i + 1..i + n as usize].iter().map(|w| w.form_id));
                if !key.contains(&NO_FORM) && self.lexicon.entries[t].contains(&key) {
                    best = n;
                    break;
                }
                n -= 1;
            }
        }
        best
    }

    fn analyse(&self, words: Vec<Arc<Word>>) -> Sentence {
        let mut matches = Vec::new();
        for (i, word) in words.iter().enumerate() {
            if word.starts.iter().all(Vec::is_empty) {
                continue;
            }
            let lengths = [0, 1, 2].map(|t| self.match_length(t, &word.starts[t], &words, i));
            if lengths.iter().any(|&n| n > 0) {
                matches.push((i, lengths));
            }
        }
        Sentence { words, matches }
    }

    /// ``AnalysedSentence.gazetteer_tags``: per position, each type's greedy longest matches.
    fn gazetteer_tags(&self, sentence: &Sentence) -> Vec<Vec<Tag>> {
        let mut tags = vec![Vec::new(); sentence.words.len()];
        for t in 0..3 {
            let mut next_free = 0;
            for &(i, lengths) in &sentence.matches {
                let length = lengths[t] as usize;
                if length == 0 || i < next_free {
                    continue;
                }
                tags[i].push(Tag::Begin(t));
                for tag in &mut tags[i + 1..i + length] {
                    tag.push(Tag::Inside(t));
                }
                if length > 1 {
                    tags[i].push(Tag::Multi(t));
                }
                next_free = i + length;
            }
        }
        tags
    }

    /// ``AnalysedSentence.gazetteer_spans``: non-overlapping longest matches of any type.
    fn gazetteer_spans(&self, sentence: &Sentence) -> Vec<(usize, usize, usize)> {
        let mut spans = Vec::new();
        let mut next_free = 0;
        for &(i, lengths) in &sentence.matches {
            if i < next_free {
                continue;
            }
            let (mut best_len, mut best_type) = (0, 0);
            for (t, &length) in lengths.iter().enumerate() {
                if length as usize > best_len {
                    (best_len, best_type) = (length as usize, t);
                }
            }
            spans.push((i, i + best_len, best_type));
            next_free = i + best_len;
        }
        spans
    }

    fn add_tags(&self, scores: &mut [f64], tags: &[Tag], view: usize) {
        for tag in tags {
            if let Some(id) = self.tag_ids[tag][view] {
                self.model.add(scores, id);
            }
        }
    }

    fn add_ids(&self, scores: &mut [f64], ids: &[u32]) {
        for &id in ids {
            self.model.add(scores, id);
        }
    }

    /// The CRF's labels of one sentence: ``CrfFeatures.items`` scored in item order, then Viterbi.
    fn crf_labels(&self, sentence: &Sentence) -> Vec<Label> {
        let words = &sentence.words;
        let n = words.len();
        let labels = self.model.n_labels();
        let tags = self.gazetteer_tags(sentence);
        let mut scores = Vec::with_capacity(n * labels);
        for i in 0..n {
            let at = scores.len();
            scores.extend_from_slice(&words[i].own);
            let row = &mut scores[at..];
            self.add_tags(row, &tags[i], 0);
            self.add_ids(row, if i >= 2 { &words[i - 2].given[0] } else { &self.pads[0] });
            self.add_ids(row, if i >= 1 { &words[i - 1].given[1] } else { &self.pads[1] });
            if i >= 1 {
                self.add_tags(row, &tags[i - 1], 1);
            }
            self.add_ids(
                row,
                if i + 1 < n {
                    &words[i + 1].given[2]
                } else {
                    &self.pads[2]
                },
            );
            if i + 1 < n {
                self.add_tags(row, &tags[i + 1], 2);
            }
            self.add_ids(
                row,
                if i + 2 < n {
                    &words[i + 2].given[3]
                } else {
                    &self.pads[3]
                },
            );
            for (side, left, right) in [(0, i.wrapping_sub(1), i), (1, i, i + 1)] {
                if left < n && right < n {
                    if let Some(id) = self
                        .bigrams
                        .get(&(words[left].bigram_id, words[right].bigram_id))
                        .and_then(|ids| ids[side])
                    {
                        self.model.add(row, id);
                    }
                }
            }
        }
        self.model
            .viterbi(&scores)
            .into_iter()
            .map(|y| self.labels[y])
            .collect()
    }

    /// ``extend_to_gazetteer``: a predicted entity grows to the multiword gazetteer name it is part of.
    fn extend_to_gazetteer(&self, sentence: &Sentence, labels: &mut [Label]) {
        for (first, last, t) in self.gazetteer_spans(sentence) {
            if last - first < 2 {
                continue;
            }
            let type_ = self.gazetteer_types[t];
            let inside: Vec<Label> = labels[first..last]
                .iter()
                .copied()
                .filter(|&l| l != Label::Out)
                .collect();
            let starts_inside = matches!(labels[first], Label::Out | Label::Begin(_));
            let ends_inside = last == labels.len() || !matches!(labels[last], Label::Inside(_));
            let same_type = inside
                .iter()
                .all(|&l| matches!(l, Label::Begin(x) | Label::Inside(x) if x == type_));
            if !inside.is_empty() && starts_inside && ends_inside && same_type {
                labels[first] = Label::Begin(type_);
                for label in &mut labels[first + 1..last] {
                    *label = Label::Inside(type_);
                }
            }
        }
    }

    /// ``propagate_in_document``: bare repeats of a one-word name (or a person's last name) found elsewhere.
    fn propagate(&self, sentences: &[Sentence], labels: &mut [Vec<Label>]) {
        let propagated = [
            self.gazetteer_types[0],
            self.gazetteer_types[1],
            self.gazetteer_types[2],
        ];
        let person = self.gazetteer_types[0];
        // key -> (type, votes) in the order of the first vote: Counter.most_common(1) keeps the first of equals.
        let mut votes: Map<&str, Vec<(usize, usize)>> = Map::default();
        for (sentence, sentence_labels) in sentences.iter().zip(labels.iter()) {
            for (first, last, type_) in bio_spans(sentence_labels) {
                let voter = if last - first == 1 && propagated.contains(&type_) {
                    first
                } else if type_ == person {
                    last - 1
                } else {
                    continue;
                };
                let counter = votes.entry(sentence.words[voter].key.as_str()).or_default();
                match counter.iter_mut().find(|(t, _)| *t == type_) {
                    Some((_, count)) => *count += 1,
                    None => counter.push((type_, 1)),
                }
            }
        }
        if votes.is_empty() {
            return;
        }
        for (sentence, sentence_labels) in sentences.iter().zip(labels.iter_mut()) {
            let n = sentence_labels.len();
            for (i, word) in sentence.words.iter().enumerate() {
                let Some(counter) = votes.get(word.key.as_str()) else {
                    continue;
                };
                if sentence_labels[i] != Label::Out
                    || chars_len(&word.key) < 3
                    || word.key_count > self.propagate_max_count
                {
                    continue;
                }
                let before_free = i == 0 || sentence_labels[i - 1] == Label::Out;
                let after_free = i + 1 == n || !matches!(sentence_labels[i + 1], Label::Inside(_));
                if before_free && after_free {
                    let mut best = counter[0];
                    for &candidate in &counter[1..] {
                        if candidate.1 > best.1 {
                            best = candidate;
                        }
                    }
                    sentence_labels[i] = Label::Begin(best.0);
                }
            }
        }
    }

    /// Labels of consecutive sentences of one document; ``extend`` and ``propagate`` apply the rules.
    pub fn label(&self, sentences: Vec<Vec<Arc<Word>>>, extend: bool, propagate: bool) -> Vec<Vec<Label>> {
        let analysed: Vec<Sentence> = sentences.into_iter().map(|words| self.analyse(words)).collect();
        let mut labels: Vec<Vec<Label>> = analysed
            .iter()
            .map(|s| {
                if s.words.is_empty() {
                    Vec::new()
                } else {
                    self.crf_labels(s)
                }
            })
            .collect();
        if extend {
            for (sentence, sentence_labels) in analysed.iter().zip(labels.iter_mut()) {
                self.extend_to_gazetteer(sentence, sentence_labels);
            }
        }
        if propagate {
            self.propagate(&analysed, &mut labels);
        }
        labels
    }

    pub fn label_name(&self, label: Label) -> String {
        match label {
            Label::Out => "O".into(),
            Label::Begin(t) => format!("B-{}", self.types[t]),
            Label::Inside(t) => format!("I-{}", self.types[t]),
        }
    }
}

/// The model's word-bigram attributes (``w[-1:0]=a|b`` on the right word, ``w[0:1]=a|b`` on the
/// left one) indexed by word ids. A pair is read at each of its ``|`` (a word may be ``|``): every
/// reading is a word pair whose attribute is exactly that name.
fn bigram_index(model: &Model) -> (Map<String, u32>, Bigrams) {
    let mut words: Map<String, u32> = Map::default();
    let mut pairs: Bigrams = Map::default();
    let intern = |word: &str, words: &mut Map<String, u32>| {
        let next = words.len() as u32;
        *words.entry(word.to_string()).or_insert(next)
    };
    for (name, &id) in &model.attributes {
        for (side, prefix) in ["w[-1:0]=", "w[0:1]="].iter().enumerate() {
            let Some(pair) = name.strip_prefix(prefix) else {
                continue;
            };
            for (at, _) in pair.match_indices('|') {
                let left = intern(&pair[..at], &mut words);
                let right = intern(&pair[at + 1..], &mut words);
                pairs.entry((left, right)).or_default()[side] = Some(id);
            }
        }
    }
    (words, pairs)
}

/// ``bio_spans``: (first, last exclusive, type); a stray ``I-X`` starts a new span.
pub fn bio_spans(labels: &[Label]) -> Vec<(usize, usize, usize)> {
    let mut spans = Vec::new();
    let mut current: Option<(usize, usize)> = None; // (start, type)
    for (i, &label) in labels.iter().enumerate() {
        if let (Label::Inside(t), Some((_, c))) = (label, current) {
            if t == c {
                continue;
            }
        }
        if let Some((start, t)) = current {
            spans.push((start, i, t));
        }
        current = match label {
            Label::Out => None,
            Label::Begin(t) | Label::Inside(t) => Some((i, t)),
        };
    }
    if let Some((start, t)) = current {
        spans.push((start, labels.len(), t));
    }
    spans
}
