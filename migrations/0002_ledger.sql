-- 0002_ledger: the provenance ledger. The durable append queue, hash tiles stored raw, entry
-- bundles stored zstd-compressed with content-addressed versioned dictionaries, the leaf-hash
-- index and the signed checkpoints (see docs/ledger-storage.md).
-- Every constraint is named. The primary keys on ledger indices and sizes make a second use of
-- an index impossible even if two sequencers ever raced: the loser's transaction fails whole.

-- Entries waiting for (or given) an index. `entry` is dropped once integrated: the entry bundle
-- holds it from then on; `leaf_hash` stays so a client can ask what became of its entry.
CREATE TABLE ledger_queue (
    id             bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT ledger_queue_pkey PRIMARY KEY,
    entry          bytea,
    leaf_hash      bytea NOT NULL,
    ledger_index   bigint,
    enqueued_at    timestamptz NOT NULL DEFAULT now(),
    integrated_at  timestamptz,
    CONSTRAINT ledger_queue_index_unique UNIQUE (ledger_index),
    CONSTRAINT ledger_queue_index_range CHECK (ledger_index >= 0),
    CONSTRAINT ledger_queue_entry_length CHECK (octet_length(entry) BETWEEN 1 AND 65535),
    CONSTRAINT ledger_queue_leaf_hash_length CHECK (octet_length(leaf_hash) = 32),
    -- a queued entry keeps its bytes until it has an index
    CONSTRAINT ledger_queue_pending_has_entry CHECK (ledger_index IS NOT NULL OR entry IS NOT NULL),
    CONSTRAINT ledger_queue_integrated_at CHECK ((ledger_index IS NULL) = (integrated_at IS NULL))
);
-- the sequencer reads the pending rows in id order
CREATE INDEX ledger_queue_pending_idx ON ledger_queue (id) WHERE ledger_index IS NULL;

-- Whether the leading sequencer sleeps waiting for work: ledger_enqueue NOTIFYs only then.
-- A notifying transaction holds a database-wide lock through its commit, so notifying on
-- every enqueue would serialise all enqueue commits (and their WAL flushes) behind one another.
CREATE TABLE ledger_sequencer_state (
    id    boolean NOT NULL DEFAULT true CONSTRAINT ledger_sequencer_state_pkey PRIMARY KEY,
    idle  boolean NOT NULL DEFAULT true,
    CONSTRAINT ledger_sequencer_state_one_row CHECK (id)
);
INSERT INTO ledger_sequencer_state DEFAULT VALUES;

-- Bundle dictionaries: content-addressed (id = SHA-256 of the bytes) and versioned 1, 2, ...
CREATE TABLE ledger_dictionaries (
    id               bytea CONSTRAINT ledger_dictionaries_pkey PRIMARY KEY,
    version          integer NOT NULL,
    bytes            bytea NOT NULL,
    trained_entries  integer NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ledger_dictionaries_version_unique UNIQUE (version),
    CONSTRAINT ledger_dictionaries_id_is_sha256 CHECK (id = sha256(bytes)),
    CONSTRAINT ledger_dictionaries_version_range CHECK (version >= 1),
    CONSTRAINT ledger_dictionaries_bytes_length CHECK (octet_length(bytes) BETWEEN 1 AND 1048576),
    CONSTRAINT ledger_dictionaries_trained_entries CHECK (trained_entries >= 1)
);

-- Hash tiles of height 8: one row per tile at its widest width; narrower widths are prefixes.
CREATE TABLE ledger_tiles (
    level  smallint NOT NULL,
    idx    bigint NOT NULL,
    width  smallint NOT NULL,
    data   bytea NOT NULL,
    CONSTRAINT ledger_tiles_pkey PRIMARY KEY (level, idx),
    CONSTRAINT ledger_tiles_level_range CHECK (level BETWEEN 0 AND 7),
    CONSTRAINT ledger_tiles_idx_range CHECK (idx >= 0),
    CONSTRAINT ledger_tiles_width_range CHECK (width BETWEEN 1 AND 256),
    CONSTRAINT ledger_tiles_data_length CHECK (octet_length(data) = 32 * width)
);

-- Entry bundles (256 entries each), compressed; dictionary_id NULL = compressed without one.
CREATE TABLE ledger_bundles (
    idx            bigint CONSTRAINT ledger_bundles_pkey PRIMARY KEY,
    width          smallint NOT NULL,
    dictionary_id  bytea CONSTRAINT ledger_bundles_dictionary_fk REFERENCES ledger_dictionaries (id),
    data           bytea NOT NULL,
    raw_bytes      integer NOT NULL,
    CONSTRAINT ledger_bundles_idx_range CHECK (idx >= 0),
    CONSTRAINT ledger_bundles_width_range CHECK (width BETWEEN 1 AND 256),
    CONSTRAINT ledger_bundles_raw_bytes_range CHECK (raw_bytes BETWEEN 3 * width AND 65537 * width)
);
CREATE INDEX ledger_bundles_dictionary_idx ON ledger_bundles (dictionary_id) WHERE dictionary_id IS NOT NULL;

-- One row per integrated entry: lookup of an index by leaf hash, and the raw size for reports.
CREATE TABLE ledger_leaves (
    ledger_index  bigint CONSTRAINT ledger_leaves_pkey PRIMARY KEY,
    leaf_hash     bytea NOT NULL,
    entry_bytes   integer NOT NULL,
    CONSTRAINT ledger_leaves_index_range CHECK (ledger_index >= 0),
    CONSTRAINT ledger_leaves_leaf_hash_length CHECK (octet_length(leaf_hash) = 32),
    CONSTRAINT ledger_leaves_entry_bytes_range CHECK (entry_bytes BETWEEN 1 AND 65535)
);
CREATE INDEX ledger_leaves_leaf_hash_idx ON ledger_leaves (leaf_hash, ledger_index);

-- Signed checkpoints, one per batch; the latest is the log's size.
CREATE TABLE ledger_checkpoints (
    size        bigint CONSTRAINT ledger_checkpoints_pkey PRIMARY KEY,
    root        bytea NOT NULL,
    note        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ledger_checkpoints_size_range CHECK (size >= 0),
    CONSTRAINT ledger_checkpoints_root_length CHECK (octet_length(root) = 32),
    CONSTRAINT ledger_checkpoints_note_length CHECK (octet_length(note) BETWEEN 1 AND 4096)
);
