/work/main/native/target-ref/release/deps/_native.d: src/lib.rs src/canon.rs src/crf.rs src/fold.rs src/ner.rs src/stem.rs src/text.rs src/pychars.rs

/work/main/native/target-ref/release/deps/lib_native.so: src/lib.rs src/canon.rs src/crf.rs src/fold.rs src/ner.rs src/stem.rs src/text.rs src/pychars.rs

src/lib.rs:
src/canon.rs:
src/crf.rs:
src/fold.rs:
src/ner.rs:
src/stem.rs:
src/text.rs:
src/pychars.rs:
