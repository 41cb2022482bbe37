-- 0005_labeling: labeling tasks on a dataset's accepted items, gold (known) answers, and the
-- labels people submit, each with its label.submitted ledger entry. The consensus is computed
-- on read by labeling/ (docs/labeling.md).
-- Every constraint is named: storage/ reports the name, the domain turns it into a sentence.

CREATE TABLE label_tasks (
    id             bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT label_tasks_pkey PRIMARY KEY,
    dataset_id     bigint NOT NULL CONSTRAINT label_tasks_dataset_fk REFERENCES datasets (id),
    creator_id     bigint NOT NULL CONSTRAINT label_tasks_creator_fk REFERENCES accounts (id),
    kind           text NOT NULL DEFAULT 'single_choice',
    classes        text[] NOT NULL,
    instructions   text NOT NULL DEFAULT '',
    overlap        integer NOT NULL,
    max_overlap    integer NOT NULL,
    pay_per_label  bigint NOT NULL DEFAULT 0,
    currency       text NOT NULL DEFAULT 'EUR',
    gold_share     double precision NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT label_tasks_kind_known CHECK (kind = 'single_choice'),
    CONSTRAINT label_tasks_classes_count CHECK (cardinality(classes) BETWEEN 2 AND 256),
    CONSTRAINT label_tasks_instructions_length CHECK (octet_length(instructions) <= 16384),
    CONSTRAINT label_tasks_overlap_range CHECK (overlap BETWEEN 1 AND 100),
    CONSTRAINT label_tasks_max_overlap_range CHECK (max_overlap BETWEEN overlap AND 100),
    CONSTRAINT label_tasks_pay_range CHECK (pay_per_label >= 0),
    CONSTRAINT label_tasks_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT label_tasks_gold_share_range CHECK (gold_share BETWEEN 0 AND 1)
);
CREATE INDEX label_tasks_dataset_idx ON label_tasks (dataset_id, id);

-- The known answer of an item, used as a hidden test of labelers and clamped in aggregation.
CREATE TABLE label_gold (
    task_id      bigint NOT NULL CONSTRAINT label_gold_task_fk REFERENCES label_tasks (id),
    item_id      bigint NOT NULL CONSTRAINT label_gold_item_fk REFERENCES items (id),
    class_index  integer NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT label_gold_pkey PRIMARY KEY (task_id, item_id),
    CONSTRAINT label_gold_class_range CHECK (class_index BETWEEN 0 AND 255)
);

-- One label per (task, item, labeler), bound to its ledger entry. The entry carries a
-- commitment to the label (SHA-256 over it and the nonce), not the label: labeling stays blind.
CREATE TABLE labels (
    id               bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT labels_pkey PRIMARY KEY,
    task_id          bigint NOT NULL CONSTRAINT labels_task_fk REFERENCES label_tasks (id),
    item_id          bigint NOT NULL CONSTRAINT labels_item_fk REFERENCES items (id),
    labeler_id       bigint NOT NULL CONSTRAINT labels_labeler_fk REFERENCES accounts (id),
    class_index      integer NOT NULL,
    nonce            bytea NOT NULL,
    ledger_queue_id  bigint NOT NULL CONSTRAINT labels_ledger_queue_fk REFERENCES ledger_queue (id),
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT labels_class_range CHECK (class_index BETWEEN 0 AND 255),
    CONSTRAINT labels_nonce_length CHECK (octet_length(nonce) = 16),
    CONSTRAINT labels_once_per_labeler UNIQUE (task_id, item_id, labeler_id),
    CONSTRAINT labels_ledger_queue_unique UNIQUE (ledger_queue_id)
);
CREATE INDEX labels_task_labeler_idx ON labels (task_id, labeler_id, item_id);
