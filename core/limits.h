/*
 * core/limits.h — named maxima for every input lode accepts.
 *
 * Each limit is the one place its number is written; modules and the router refer to these
 * names, the docs quote them, and tests probe one past each. Changing a limit is a change to
 * the public contract (docs/limits.md).
 */
#ifndef LODE_CORE_LIMITS_H
#define LODE_CORE_LIMITS_H

/* HTTP */
#define LODE_CONNECTIONS_MAX 4096          /* open connections per process */
#define LODE_STREAMS_MAX 100               /* concurrent HTTP/2 streams per connection */
#define LODE_HEADER_BYTES_MAX 16384        /* request header section, both protocols */
#define LODE_HEADER_COUNT_MAX 100          /* request header fields */
#define LODE_TARGET_BYTES_MAX 4096         /* request target (path and query) */
#define LODE_BODY_BYTES_DEFAULT 65536      /* default per-route body limit */
#define LODE_BODY_BYTES_MAX (64u << 20)    /* largest body any route may accept */
#define LODE_REQUEST_ARENA_BYTES_MAX (128u << 20) /* memory one request may use */
#define LODE_IDLE_TIMEOUT_MS 60000         /* idle connection is closed */
#define LODE_HEADER_TIMEOUT_MS 10000       /* a request's headers must arrive within this */
#define LODE_REQUEST_TIMEOUT_MS 30000      /* default per-route deadline */

/* JSON bodies */
#define LODE_JSON_DEPTH_MAX 32             /* nesting of arrays and objects */
#define LODE_JSON_STRING_BYTES_MAX (1u << 20)

/* Ledger */
#define LODE_ENTRY_BYTES_MAX 65535         /* one canonical JSON ledger entry */
#define LODE_BUNDLE_ENTRIES_MAX 256        /* entries in one entry bundle (tile width) */
#define LODE_NOTE_BYTES_MAX 16384          /* one signed note (checkpoint) with its signatures */
#define LODE_NOTE_SIGNATURES_MAX 100       /* signature lines in one note */
#define LODE_NOTE_NAME_BYTES_MAX 256       /* key name / checkpoint origin */
#define LODE_CHECKPOINT_EXTENSION_BYTES_MAX 1024 /* extension lines of one checkpoint */
#define LODE_ZSTD_DICT_BYTES_MAX (1u << 20) /* one trained entry-bundle dictionary */
#define LODE_LEDGER_BATCH_MAX 4096       /* entries one sequencer batch integrates */
#define LODE_LEDGER_BATCH_DELAY_MS_MAX 10000 /* how long a sequencer batch may gather */
#define LODE_LEDGER_KEY_FILE_BYTES_MAX 1024 /* the checkpoint signing key file */

/* Accounts */
#define LODE_NAME_BYTES_MAX 200            /* display names, labels of keys and tokens */

/* Labeling (labeling/) */
#define LODE_LABELING_LABELS_MAX 256          /* distinct labels of a single-choice task */
#define LODE_LABELING_ANSWERS_MAX 100000000u  /* answers in one aggregation */
#define LODE_LABELING_FIELD_BYTES_MAX 1024    /* one CSV field (task, worker or label name) */
#define LODE_LABELING_CSV_FIELDS_MAX 256      /* fields in one CSV row */
#define LODE_LABELING_CSV_BYTES_MAX (4ull << 30) /* answers file read by lode aggregate */
#define LODE_LABEL_CLASS_BYTES_MAX 200        /* one class name of a labeling task */
#define LODE_LABEL_INSTRUCTIONS_BYTES_MAX 16384 /* a labeling task's instructions */
#define LODE_LABEL_GOLD_PER_REQUEST_MAX 1000  /* gold answers in one request */
#define LODE_LABEL_TASK_ANSWERS_MAX 1000000   /* labels of one task aggregated on request */
#define LODE_LABEL_TASK_ITEMS_MAX 1000000     /* items of one task aggregated on request */
#define LODE_LABEL_TASK_CELLS_MAX 2000000     /* items x classes of one aggregation (memory) */
#define LODE_LABEL_MULTI_CLASSES_MAX 64       /* classes of a multi-label task (a 64-bit set) */
#define LODE_LABEL_RATING_STEPS_MAX 1000000   /* grid steps of a rating task (max - min) / step */
#define LODE_LABEL_LEASE_SECONDS_MAX 86400    /* how long /next may reserve an item */

/* Detector */
#define LODE_DETECTOR_TEXT_BYTES_MAX (4u << 20)   /* one text to score */
#define LODE_DETECTOR_MODEL_BYTES_MAX (16u << 20) /* a model file */
#define LODE_DETECTOR_LINE_BYTES_MAX (8u << 20)   /* one JSONL line for detect / detect-train */
#define LODE_DETECTOR_TRAIN_SAMPLES_MAX 1000000   /* texts in one training run */
#define LODE_DETECTOR_REFERENCE_BYTES_MAX (4u << 20) /* the machine reference corpus file */

/* Reputation: bonds, juries, settlement parameters */
#define LODE_JURY_SEATS_MAX 63             /* seats of one jury round */
#define LODE_JURY_POOL_MAX 1000000         /* candidate jurors in one draw */
#define LODE_BOND_STATEMENT_BYTES_MAX 64   /* "human-made", "accurate", ... */
#define LODE_REPUTATION_CONFIG_BYTES_MAX 8192 /* JSON object of settlement parameters */
#define LODE_BOND_JSON_BYTES_MAX 65536     /* a bond's engine state as stored JSON */
#define LODE_BOND_SUBJECT_BYTES_MAX 2048   /* a bond's subject reference (claim text, hash, id) */
#define LODE_BOND_EVIDENCE_BYTES_MAX 16384 /* a challenge's evidence text or URL */
#define LODE_BOND_POOL_RESPONSE_MAX 100000 /* pool members listed by GET /v1/bonds/{id}/jury */

/* Dedupe (dedupe/) */
#define LODE_DEDUPE_TEXT_BYTES_MAX (1u << 20)  /* one text to normalise and sign */
#define LODE_DEDUPE_LINE_BYTES_MAX (8u << 20)  /* one JSONL line of lode dedupe input */
#define LODE_DEDUPE_INDEX_KEYS_MAX (1u << 30)  /* band-key entries in one in-memory index */
#define LODE_DEDUPE_ITEMS_MAX 100000000u       /* records in one lode dedupe run */

/* Datasets and items (storage/item_store.h, api/items.c) */
#define LODE_BLOB_BYTES_MAX (16u << 20)          /* one stored blob, uncompressed */
#define LODE_ITEM_FILE_BYTES_MAX (16u << 20)     /* one uploaded file */
#define LODE_ITEM_RECORD_BYTES_MAX (2u << 20)    /* one JSON record (a body or an NDJSON line) */
#define LODE_ITEM_META_BYTES_MAX 16384           /* a record's "meta" object, compact JSON */
#define LODE_ITEM_BATCH_RECORDS_MAX 1000         /* records in one NDJSON upload */
#define LODE_ITEM_BATCH_BYTES_MAX (8u << 20)     /* one NDJSON upload */
#define LODE_DATASET_DESCRIPTION_BYTES_MAX 4096  /* a dataset's description */

/* money (api/money.c): amounts in requests are exact JSON integers (2^53 - 1) */
#define LODE_MONEY_AMOUNT_MAX 9007199254740991LL
#define LODE_MONEY_BODY_BYTES_MAX 4096           /* a money-moving request body */

#endif
