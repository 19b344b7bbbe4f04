//! A crfsuite ``crf1d`` model (the file ``pycrfsuite.Trainer`` writes), read and decoded with
//! crfsuite's exact arithmetic.
//!
//! A token's score for a label is the sum of the weights of its attributes, added in item order
//! starting from 0.0 (crfsuite's order, so the same doubles); Viterbi keeps the lowest label on
//! equal scores, as crfsuite does (it replaces the best only on a strictly greater score).

use std::collections::HashMap;

use ahash::RandomState;

pub struct Model {
    pub labels: Vec<String>,
    /// Attribute name -> id; ids start at 1.
    pub attributes: HashMap<String, u32, RandomState>,
    /// ``(attributes + 1) x labels`` state weights, row = attribute id (row 0 is zeros).
    pub weights: Vec<f64>,
    /// ``labels x labels`` transition weights, ``[previous * labels + next]``.
    pub transitions: Vec<f64>,
}

fn u32_at(data: &[u8], offset: usize) -> Result<u32, String> {
    data.get(offset..offset + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| format!("model file truncated at byte {offset}"))
}

/// The strings of one CQDB chunk, by id (its backward array: id -> record).
fn dictionary(data: &[u8], offset: usize) -> Result<Vec<String>, String> {
    if data.get(offset..offset + 4) != Some(b"CQDB") {
        return Err(format!("no CQDB dictionary at offset {offset}"));
    }
    let count = u32_at(data, offset + 16)? as usize;
    let backward = u32_at(data, offset + 20)? as usize;
    let mut names = Vec::with_capacity(count);
    for id in 0..count {
        let record = offset + u32_at(data, offset + backward + 4 * id)? as usize;
        let size = u32_at(data, record + 4)? as usize; // counts the trailing NUL
        let bytes = data
            .get(record + 8..record + 7 + size)
            .ok_or_else(|| format!("dictionary record {id} out of the file"))?;
        names.push(String::from_utf8(bytes.to_vec()).map_err(|e| e.to_string())?);
    }
    Ok(names)
}

impl Model {
    pub fn from_bytes(data: &[u8]) -> Result<Model, String> {
        if data.get(0..4) != Some(b"lCRF") || data.get(8..12) != Some(b"FOMC") {
            return Err("not a crfsuite crf1d model".into());
        }
        let n_labels = u32_at(data, 20)? as usize;
        let n_attributes = u32_at(data, 24)? as usize;
        let features_at = u32_at(data, 28)? as usize;
        let labels_at = u32_at(data, 32)? as usize;
        let attributes_at = u32_at(data, 36)? as usize;
        if data.get(features_at..features_at + 4) != Some(b"FEAT") {
            return Err(format!("no feature chunk at offset {features_at}"));
        }
        let count = u32_at(data, features_at + 8)? as usize;
        let mut weights = vec![0.0; (n_attributes + 1) * n_labels];
        let mut transitions = vec![0.0; n_labels * n_labels];
        for k in 0..count {
            let at = features_at + 12 + 20 * k;
            let (kind, source, target) = (
                u32_at(data, at)?,
                u32_at(data, at + 4)? as usize,
                u32_at(data, at + 8)? as usize,
            );
            let bytes = data.get(at + 12..at + 20).ok_or("feature chunk truncated")?;
            let weight = f64::from_le_bytes(bytes.try_into().expect("8 bytes"));
            match kind {
                0 if source < n_attributes && target < n_labels => weights[(source + 1) * n_labels + target] += weight,
                1 if source < n_labels && target < n_labels => transitions[source * n_labels + target] += weight,
                _ => {
                    return Err(format!(
                        "feature {k}: type {kind} from {source} to {target} is out of range"
                    ))
                }
            }
        }
        let labels = dictionary(data, labels_at)?;
        let names = dictionary(data, attributes_at)?;
        if labels.len() != n_labels || names.len() != n_attributes {
            return Err(format!(
                "{} labels, {} attributes; the header says otherwise",
                labels.len(),
                names.len()
            ));
        }
        let attributes = names.into_iter().zip(1u32..).collect();
        Ok(Model {
            labels,
            attributes,
            weights,
            transitions,
        })
    }

    /// A model of ``n x n`` transitions only (no attributes), for decoding given scores.
    pub fn with_transitions(transitions: Vec<f64>) -> Model {
        let n = (transitions.len() as f64).sqrt() as usize;
        let labels = (0..n).map(|i| i.to_string()).collect();
        Model {
            labels,
            attributes: HashMap::default(),
            weights: Vec::new(),
            transitions,
        }
    }

    pub fn n_labels(&self) -> usize {
        self.labels.len()
    }

    /// The weights of attribute ``id``, one per label.
    #[inline]
    pub fn row(&self, id: u32) -> &[f64] {
        let n = self.n_labels();
        &self.weights[id as usize * n..(id as usize + 1) * n]
    }

    /// ``scores += weights of id``, label by label.
    #[inline]
    pub fn add(&self, scores: &mut [f64], id: u32) {
        for (score, weight) in scores.iter_mut().zip(self.row(id)) {
            *score += weight;
        }
    }

    /// The best label ids of one sentence from its ``tokens x labels`` state scores (crfsuite's
    /// ``crf1dc_viterbi``: the transition max first, the state score added after, ties to the
    /// lowest label).
    pub fn viterbi(&self, scores: &[f64]) -> Vec<usize> {
        let n = self.n_labels();
        let tokens = scores.len() / n;
        if tokens == 0 {
            return Vec::new();
        }
        let mut best = scores[..n].to_vec();
        let mut next = vec![0.0; n];
        let mut back = vec![0usize; tokens * n];
        for t in 1..tokens {
            for j in 0..n {
                let (mut max, mut argmax) = (f64::MIN, None);
                for (i, &previous) in best.iter().enumerate() {
                    let score = previous + self.transitions[i * n + j];
                    if max < score {
                        (max, argmax) = (score, Some(i));
                    }
                }
                if let Some(i) = argmax {
                    back[t * n + j] = i;
                }
                next[j] = max;
            }
            for (j, value) in next.iter_mut().enumerate() {
                *value += scores[t * n + j];
            }
            std::mem::swap(&mut best, &mut next);
        }
        let mut label = 0;
        let mut max = f64::MIN;
        for (i, &score) in best.iter().enumerate() {
            if max < score {
                (max, label) = (score, i);
            }
        }
        let mut path = vec![0; tokens];
        path[tokens - 1] = label;
        for t in (0..tokens - 1).rev() {
            label = back[(t + 1) * n + label];
            path[t] = label;
        }
        path
    }
}
