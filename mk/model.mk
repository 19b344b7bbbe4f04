# The Arabic entity tagger's model (docs/entities.md): derived gazetteers, word classes from
# unlabelled news, and the CRF trained on the ANERcorp CAMeL Lab train split. Deterministic.

.PHONY: model eval-entities

model: install ## Rebuild the entity gazetteers, word classes and CRF into transforms/models/ (~2 min)
	$(BIN)/python scripts/train_ner.py all

eval-entities: install ## Print entity P/R/F1 (ANERcorp, Wojood, NewsFANE), gazetteer baseline, tokens/s
	$(BIN)/python -m eval.entities
