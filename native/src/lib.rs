//! ``transforms._native``: the hot paths of akhbar's entity tagger in Rust.
//!
//! ``EntityCore`` holds the CRF model and the lexicon (built by ``transforms.entities`` from the
//! same files the Python features use) and tags whole texts with the GIL released. The module
//! functions expose the text primitives for tests.

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::{mpsc, Arc, Mutex};

use ahash::RandomState;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

mod canon;
mod crf;
mod fold;
mod minhash;
mod ner;
#[rustfmt::skip]
mod pychars;
mod stem;
mod text;

/// ``(start, end, type, canonical name)`` of each entity mention.
type Mentions = Vec<(usize, usize, String, String)>;

/// Byte offset of every character of ``text``, and the text's length at the end.
fn byte_offsets(text: &str) -> Vec<usize> {
    text.char_indices().map(|(at, _)| at).chain([text.len()]).collect()
}

/// The model, lexicon and canonical names: read by ``EntityCore``'s methods and by its worker threads.
struct Core {
    tagger: ner::Tagger,
    canonicalizer: canon::Canonicalizer,
}

/// The mentions of each text of a job, or the message of the panic that stopped it.
type JobResult = Result<Vec<Mentions>, String>;

/// One job of the worker threads: texts to tag, and where their mentions go.
type Job = (Vec<String>, mpsc::Sender<JobResult>);

#[pyclass(frozen, module = "transforms._native")]
struct EntityCore {
    core: Arc<Core>,
    /// The queue of the worker threads ``tag_in_background`` starts on first use; they end when
    /// this object is dropped (their queue closes).
    worker: Mutex<Option<mpsc::Sender<Job>>>,
    /// How many worker threads: one per core but one (the Python thread feeding them needs a
    /// core; at least one) unless the constructor says otherwise. Several Beam threads sharing a
    /// tagger (a portable runner's worker process) are then not served by one thread; on 2 cores
    /// one worker is faster than two (whole corpus, 1x batch: 21.1-22.2 s against 22.6-23.1 s).
    threads: usize,
}

impl std::ops::Deref for EntityCore {
    type Target = Core;

    fn deref(&self) -> &Core {
        &self.core
    }
}

impl Core {
    /// The words of every token of ``text`` and the tokens' character spans.
    fn tokens<'a>(&self, text: &'a str) -> (Vec<(usize, usize)>, Vec<&'a str>, Vec<char>) {
        let chars: Vec<char> = text.chars().collect();
        let tokens = text::tokenize(&chars);
        let at = byte_offsets(text);
        let words = tokens.iter().map(|&(start, end)| &text[at[start]..at[end]]).collect();
        (tokens, words, chars)
    }

    /// ``EntityCore.tag``, without the GIL.
    fn tag(&self, text: &str) -> Mentions {
        let (tokens, words, chars) = self.tokens(text);
        let bounds = text::sentence_bounds(&chars, &tokens, self.tagger.max_sentence_tokens);
        let mut entries = self.tagger.words(words.iter().copied()).into_iter();
        let sentences = bounds
            .iter()
            .map(|&(first, last)| entries.by_ref().take(last - first).collect())
            .collect();
        let labels = self.tagger.label(sentences, true, true);
        let mut mentions = Vec::new();
        for (&(offset, _), sentence_labels) in bounds.iter().zip(&labels) {
            for (first, last, t) in ner::bio_spans(sentence_labels) {
                mentions.push(canon::Mention {
                    start: tokens[offset + first].0,
                    end: tokens[offset + last - 1].1,
                    type_: self.tagger.types[t].clone(),
                    canonical: String::new(),
                });
            }
        }
        self.canonicalizer.canonicalize(text, &mut mentions, text::feature_form);
        mentions
            .into_iter()
            .map(|m| (m.start, m.end, m.type_, m.canonical))
            .collect()
    }
}

/// A worker thread: takes the next job off the shared queue and tags its texts in order; a panic
/// is sent back as the job's error (and the thread goes on with the next job).
fn work(core: Arc<Core>, jobs: Arc<Mutex<mpsc::Receiver<Job>>>) {
    loop {
        let job = match jobs.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return, // poisoned: no worker panics while holding the queue (recv does not)
        };
        let Ok((texts, reply)) = job else { return }; // the queue closed: the core is gone
        let mentions = std::panic::catch_unwind(AssertUnwindSafe(|| {
            texts.iter().map(|text| core.tag(text)).collect::<Vec<_>>()
        }))
        .map_err(|panic| {
            panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "the entity tagger panicked".to_string())
        });
        let _ = reply.send(mentions); // the caller may have given up waiting: nothing to do
    }
}

/// The mentions ``EntityCore.tag_in_background`` is computing.
#[pyclass(frozen, module = "transforms._native")]
struct PendingMentions {
    reply: Mutex<Option<mpsc::Receiver<JobResult>>>,
}

#[pymethods]
impl PendingMentions {
    /// Waits (without the GIL) for the mentions of each text, as ``EntityCore.tag`` gives them;
    /// once only.
    fn wait(&self, py: Python<'_>) -> PyResult<Vec<Mentions>> {
        let reply = self
            .reply
            .lock()
            .map_err(|_| PyRuntimeError::new_err("poisoned"))?
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("these mentions were already taken"))?;
        match py.detach(move || reply.recv()) {
            Ok(Ok(mentions)) => Ok(mentions),
            Ok(Err(panic)) => Err(PyRuntimeError::new_err(format!("entity tagger: {panic}"))),
            Err(_) => Err(PyRuntimeError::new_err("the entity tagger's worker thread ended")),
        }
    }
}

#[pymethods]
impl EntityCore {
    #[new]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (model, counts, classes, names, tokens, triggers, nationalities, propagate_max_count,
                        max_sentence_tokens, cache_size, fold_table, variants, name_counts, countries, threads=0))]
    fn new(
        model: &[u8],
        counts: HashMap<String, i64>,
        classes: HashMap<String, Vec<String>>,
        names: [Vec<Vec<String>>; 3],
        tokens: [HashSet<String>; 3],
        triggers: HashMap<String, String>,
        nationalities: HashMap<String, String>,
        propagate_max_count: i64,
        max_sentence_tokens: usize,
        cache_size: usize,
        fold_table: HashMap<u32, Option<String>>,
        variants: Vec<(String, String)>,
        name_counts: HashMap<String, i64>,
        countries: Vec<String>,
        threads: usize,
    ) -> PyResult<Self> {
        let model = crf::Model::from_bytes(model).map_err(PyValueError::new_err)?;
        let lexicon = ner::Lexicon::new(
            counts.into_iter().collect(),
            classes.into_iter().collect(),
            names,
            tokens.map(|set| set.into_iter().collect::<HashSet<String, RandomState>>()),
            triggers.into_iter().collect(),
            nationalities.into_iter().collect(),
        );
        let tagger = ner::Tagger::new(model, lexicon, propagate_max_count, max_sentence_tokens, cache_size);
        let mut table = HashMap::new();
        for (code, replacement) in fold_table {
            let c = char::from_u32(code).ok_or_else(|| PyValueError::new_err(format!("no character {code:#x}")))?;
            table.insert(c, replacement.unwrap_or_default());
        }
        let canonicalizer = canon::Canonicalizer::new(
            fold::Folder::new(table),
            variants,
            name_counts.into_iter().collect(),
            countries,
        );
        Ok(EntityCore {
            core: Arc::new(Core { tagger, canonicalizer }),
            worker: Mutex::new(None),
            threads: if threads > 0 {
                threads
            } else {
                std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
            },
        })
    }

    /// The model's labels, by id.
    #[getter]
    fn labels(&self) -> Vec<String> {
        self.tagger.model.labels.clone()
    }

    /// Entity mentions of ``text`` as ``(start, end, type, canonical name)``, character offsets:
    /// tokens, sentences, CRF labels, both rules, canonical names.
    fn tag(&self, py: Python<'_>, text: &str) -> Mentions {
        py.detach(|| self.core.tag(text))
    }

    /// Starts ``tag`` of each of ``texts`` on this object's worker threads (started on first use)
    /// and returns at once: the GIL stays free for other work until ``PendingMentions.wait``. Jobs
    /// are taken in the order given, by as many threads as the object has (Beam threads sharing
    /// one tagger in a worker process get as many cores).
    fn tag_in_background(&self, texts: Vec<String>) -> PyResult<PendingMentions> {
        let (reply, receiver) = mpsc::channel();
        let mut worker = self.worker.lock().map_err(|_| PyRuntimeError::new_err("poisoned"))?;
        let queue = worker.get_or_insert_with(|| {
            let (queue, jobs) = mpsc::channel();
            let jobs = Arc::new(Mutex::new(jobs));
            for _ in 0..self.threads {
                let (core, jobs) = (Arc::clone(&self.core), Arc::clone(&jobs));
                std::thread::Builder::new()
                    .name("akhbar-entities".into())
                    .spawn(move || work(core, jobs))
                    .expect("a thread for the entity tagger");
            }
            queue
        });
        queue
            .send((texts, reply))
            .map_err(|_| PyRuntimeError::new_err("the entity tagger's worker thread ended"))?;
        Ok(PendingMentions {
            reply: Mutex::new(Some(receiver)),
        })
    }

    /// Canonical names of the mentions ``(start, end, type)`` of ``text``, as ``tag`` gives them
    /// (a start moves past the proclitics that are no part of the name).
    fn canonicalize(&self, py: Python<'_>, text: &str, spans: Vec<(usize, usize, String)>) -> PyResult<Mentions> {
        let length = text.chars().count();
        if spans.iter().any(|&(start, end, _)| start > end || end > length) {
            return Err(PyValueError::new_err("a span is outside the text"));
        }
        let mut mentions: Vec<canon::Mention> = spans
            .into_iter()
            .map(|(start, end, type_)| canon::Mention {
                start,
                end,
                type_,
                canonical: String::new(),
            })
            .collect();
        py.detach(|| self.canonicalizer.canonicalize(text, &mut mentions, text::feature_form));
        Ok(mentions
            .into_iter()
            .map(|m| (m.start, m.end, m.type_, m.canonical))
            .collect())
    }

    /// The countries of ``facets``: ``mentions`` are ``(type, canonical, start, end)`` in order;
    /// nationality adjectives are read from ``text`` when given.
    #[pyo3(signature = (mentions, text=None))]
    fn countries(
        &self,
        py: Python<'_>,
        mentions: Vec<(String, String, usize, usize)>,
        text: Option<&str>,
    ) -> Vec<String> {
        py.detach(|| {
            let mentions: Vec<canon::Mention> = mentions
                .into_iter()
                .map(|(type_, canonical, start, end)| canon::Mention {
                    start,
                    end,
                    type_,
                    canonical,
                })
                .collect();
            let nationalities = text.map_or_else(Vec::new, |text| self.nationality_mentions(text));
            self.canonicalizer.countries(&mentions, nationalities)
        })
    }

    /// ``transforms.normalize.fold`` as the canonical names use it.
    fn fold(&self, text: &str) -> String {
        self.canonicalizer.folder.fold(text)
    }

    /// BIO labels of the sentences of one document (given as words); ``extend`` grows entities to
    /// gazetteer names, ``propagate`` tags bare repeats of names found elsewhere.
    fn label_sentences(
        &self,
        py: Python<'_>,
        sentences: Vec<Vec<String>>,
        extend: bool,
        propagate: bool,
    ) -> Vec<Vec<String>> {
        py.detach(|| {
            let words = sentences
                .iter()
                .map(|words| self.tagger.words(words.iter().map(String::as_str)))
                .collect();
            let labels = self.tagger.label(words, extend, propagate);
            labels
                .into_iter()
                .map(|s| s.into_iter().map(|l| self.tagger.label_name(l)).collect())
                .collect()
        })
    }
}

impl Core {
    /// ``(start, country)`` of the tokens of ``text`` that are nationality adjectives (الصيني -> الصين).
    fn nationality_mentions(&self, text: &str) -> Vec<(usize, String)> {
        let (tokens, words, _) = self.tokens(text);
        let entries = self.tagger.words(words.iter().copied());
        tokens
            .iter()
            .zip(entries)
            .filter_map(|(&(start, _), word)| Some((start, word.country.clone()?)))
            .collect()
    }
}

/// ``transforms.stem``'s light stemmer with the prefixes and suffixes given by ``transforms/stem.py``.
#[pyclass(frozen, module = "transforms._native")]
struct Stemmer {
    stemmer: stem::Stemmer,
}

#[pymethods]
impl Stemmer {
    #[new]
    fn new(prefixes: Vec<(String, usize)>, suffixes: Vec<String>) -> Self {
        Stemmer {
            stemmer: stem::Stemmer::new(prefixes, suffixes),
        }
    }

    /// The light stem of one folded word.
    fn stem(&self, word: &str) -> String {
        let chars: Vec<char> = word.chars().collect();
        self.stemmer.stem(&chars).iter().collect()
    }

    /// The stems of every word of a folded text, space separated.
    fn stem_text(&self, py: Python<'_>, folded: &str) -> String {
        py.detach(|| self.stemmer.stem_text(folded))
    }
}

/// ``transforms.dedup``'s MinHash of word shingles, for one set of permutations.
#[pyclass(frozen, module = "transforms._native")]
struct MinHasher {
    hasher: minhash::MinHasher,
}

#[pymethods]
impl MinHasher {
    /// ``a`` and ``b``: the permutations (one pair per signature value); ``size``: words per shingle.
    #[new]
    fn new(a: Vec<u32>, b: Vec<u32>, size: usize) -> PyResult<Self> {
        if a.len() != b.len() || size == 0 {
            return Err(PyValueError::new_err("a and b need the same length, size at least 1"));
        }
        Ok(MinHasher {
            hasher: minhash::MinHasher::new(a, b, size),
        })
    }

    /// (signature as little-endian uint32 bytes, number of distinct shingles) of a folded text,
    /// or None when it has fewer than ``min_tokens`` tokens.
    fn signature<'py>(&self, py: Python<'py>, folded: &str, min_tokens: usize) -> Option<(Bound<'py, PyBytes>, usize)> {
        let found = py.detach(|| self.hasher.signature(folded, min_tokens))?;
        let (signature, size) = found;
        let bytes: Vec<u8> = signature.iter().flat_map(|v| v.to_le_bytes()).collect();
        Some((PyBytes::new(py, &bytes), size))
    }
}

/// ``(start, end)`` character offsets of the tokens of ``text`` (``_TOKEN_RE``).
#[pyfunction]
fn tokenize(text: &str) -> Vec<(usize, usize)> {
    text::tokenize(&text.chars().collect::<Vec<char>>())
}

/// ``sentence_bounds``: (first, last exclusive) token indices of the sentences of ``text``.
#[pyfunction]
fn sentence_bounds(text: &str, max_tokens: usize) -> Vec<(usize, usize)> {
    let chars: Vec<char> = text.chars().collect();
    text::sentence_bounds(&chars, &text::tokenize(&chars), max_tokens)
}

/// ``feature_form`` of one word.
#[pyfunction]
fn feature_form(word: &str) -> String {
    text::feature_form(word)
}

/// crfsuite's Viterbi on ``tokens x labels`` state scores and ``labels x labels`` transitions
/// (``[previous][next]``): the label ids of the best path.
#[pyfunction]
fn viterbi(scores: Vec<Vec<f64>>, transitions: Vec<Vec<f64>>) -> PyResult<Vec<usize>> {
    let n = transitions.len();
    if transitions.iter().chain(&scores).any(|row| row.len() != n) {
        return Err(PyValueError::new_err("every row needs one score per label"));
    }
    let model = crf::Model::with_transitions(transitions.concat());
    Ok(model.viterbi(&scores.concat()))
}

/// ``_shape`` of one word.
#[pyfunction]
fn shape(word: &str) -> String {
    text::shape(word)
}

#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<EntityCore>()?;
    module.add_class::<PendingMentions>()?;
    module.add_class::<Stemmer>()?;
    module.add_class::<MinHasher>()?;
    module.add_function(wrap_pyfunction!(tokenize, module)?)?;
    module.add_function(wrap_pyfunction!(sentence_bounds, module)?)?;
    module.add_function(wrap_pyfunction!(feature_form, module)?)?;
    module.add_function(wrap_pyfunction!(shape, module)?)?;
    module.add_function(wrap_pyfunction!(viterbi, module)?)?;
    Ok(())
}
