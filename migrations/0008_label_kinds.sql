-- 0008_label_kinds: multi-label and numeric-rating tasks next to single-choice ones, and leases
-- that reserve an item for the labeler /next offered it to (docs/labeling.md).
-- A label or gold answer holds exactly one of: class_index (single_choice), class_set
-- (multi_label: bit k = class k, 64 classes at most) or rating (rating: a value on the task's
-- grid min + k * step, stored in its canonical form).
-- Every constraint is named: storage/ reports the name, the domain turns it into a sentence.

ALTER TABLE label_tasks DROP CONSTRAINT label_tasks_kind_known;
ALTER TABLE label_tasks DROP CONSTRAINT label_tasks_classes_count;
ALTER TABLE label_tasks
    ADD COLUMN rating_min double precision,
    ADD COLUMN rating_max double precision,
    ADD COLUMN rating_step double precision,
    ADD COLUMN lease_seconds integer NOT NULL DEFAULT 600,
    ADD CONSTRAINT label_tasks_kind_known
        CHECK (kind IN ('single_choice', 'multi_label', 'rating')),
    ADD CONSTRAINT label_tasks_classes_count CHECK (CASE kind
        WHEN 'single_choice' THEN cardinality(classes) BETWEEN 2 AND 256
        WHEN 'multi_label' THEN cardinality(classes) BETWEEN 1 AND 64
        ELSE cardinality(classes) = 0 END),
    ADD CONSTRAINT label_tasks_rating_range CHECK (CASE kind
        WHEN 'rating' THEN rating_min < rating_max AND rating_step > 0
                           AND rating_step <= rating_max - rating_min
        ELSE num_nonnulls(rating_min, rating_max, rating_step) = 0 END),
    ADD CONSTRAINT label_tasks_lease_range CHECK (lease_seconds BETWEEN 10 AND 86400);

ALTER TABLE label_gold ALTER COLUMN class_index DROP NOT NULL;
ALTER TABLE label_gold
    ADD COLUMN class_set bigint,
    ADD COLUMN rating double precision,
    ADD CONSTRAINT label_gold_one_value CHECK (num_nonnulls(class_index, class_set, rating) = 1),
    ADD CONSTRAINT label_gold_rating_finite
        CHECK (rating IS NULL OR rating NOT IN ('NaN', 'Infinity', '-Infinity'));

ALTER TABLE labels ALTER COLUMN class_index DROP NOT NULL;
ALTER TABLE labels
    ADD COLUMN class_set bigint,
    ADD COLUMN rating double precision,
    ADD CONSTRAINT labels_one_value CHECK (num_nonnulls(class_index, class_set, rating) = 1),
    ADD CONSTRAINT labels_rating_finite
        CHECK (rating IS NULL OR rating NOT IN ('NaN', 'Infinity', '-Infinity'));

-- An item offered by /next is reserved for its labeler until expires_at: it counts toward the
-- item's overlap like a label, so two labelers asking at once cannot push it past the overlap.
-- The label deletes the lease; an expired lease counts for nothing and is removed lazily.
CREATE TABLE label_leases (
    task_id     bigint NOT NULL CONSTRAINT label_leases_task_fk REFERENCES label_tasks (id),
    item_id     bigint NOT NULL CONSTRAINT label_leases_item_fk REFERENCES items (id),
    labeler_id  bigint NOT NULL CONSTRAINT label_leases_labeler_fk REFERENCES accounts (id),
    expires_at  timestamptz NOT NULL,
    CONSTRAINT label_leases_pkey PRIMARY KEY (task_id, labeler_id, item_id)
);
CREATE INDEX label_leases_item_idx ON label_leases (task_id, item_id, expires_at);
