-- 0004_synthetic: the synthetic-data detector on the contribution path. A dataset's policy says
-- what happens to a text the detector calls synthetic and how large a flagged fraction it
-- accepts; every scored item keeps its verdict, score and the model that scored it.
-- Every constraint is named: storage/ reports the name, the domain turns it into a sentence.

ALTER TABLE datasets
    ADD COLUMN synthetic_action text NOT NULL DEFAULT 'quarantine',
    ADD COLUMN max_synthetic_fraction double precision,
    ADD CONSTRAINT datasets_synthetic_action_known
        CHECK (synthetic_action IN ('reject', 'quarantine', 'accept')),
    ADD CONSTRAINT datasets_max_synthetic_fraction_range
        CHECK (max_synthetic_fraction BETWEEN 0 AND 1);

-- synthetic_verdict is NULL when the item was not scored (a file, or no model loaded);
-- synthetic_score is NULL when the verdict carries no probability (insufficient, or uncertain
-- because the text is unlike the training data).
ALTER TABLE items
    ADD COLUMN synthetic_verdict text,
    ADD COLUMN synthetic_score double precision,
    ADD COLUMN synthetic_flagged boolean NOT NULL DEFAULT false,
    ADD COLUMN detector_model text,
    ADD COLUMN flag_queue_id bigint CONSTRAINT items_flag_queue_fk REFERENCES ledger_queue (id),
    ADD CONSTRAINT items_synthetic_verdict_known
        CHECK (synthetic_verdict IN ('human', 'synthetic', 'uncertain', 'insufficient')),
    ADD CONSTRAINT items_synthetic_score_range CHECK (synthetic_score BETWEEN 0 AND 1),
    ADD CONSTRAINT items_synthetic_scored_by CHECK ((synthetic_verdict IS NULL) = (detector_model IS NULL)),
    ADD CONSTRAINT items_flagged_synthetic CHECK (NOT synthetic_flagged OR synthetic_verdict = 'synthetic'),
    ADD CONSTRAINT items_flagged_entry CHECK (synthetic_flagged = (flag_queue_id IS NOT NULL));
CREATE INDEX items_dataset_flagged_idx ON items (dataset_id) WHERE synthetic_flagged;
