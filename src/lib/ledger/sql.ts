/**
 * Every SQL statement of the ledger, in one place. It must run unchanged on
 * PostgreSQL and CockroachDB: plain DDL with IF NOT EXISTS, no PL/pgSQL, no
 * PostgreSQL-only functions (generate_series, ON CONFLICT and data-modifying CTEs
 * exist in both), amounts as BIGINT minor units.
 */

export interface Migration {
  name: string
  statements: (options: {allowNegativeBalances: boolean}) => string[]
  version: number
}

export const MIGRATIONS_TABLE = 'atlas_schema_migrations'

export const CREATE_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (
  version INT NOT NULL PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)`

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'accounts, transfers and the mint record',
    statements: ({allowNegativeBalances}) => [
      // one row: the minted total that conservation is checked against, and whether negatives are allowed
      `CREATE TABLE IF NOT EXISTS ledger_mint (
        id INT NOT NULL PRIMARY KEY CHECK (id = 1),
        accounts BIGINT NOT NULL CHECK (accounts > 0),
        opening_balance BIGINT NOT NULL CHECK (opening_balance >= 0),
        total BIGINT NOT NULL,
        allow_negative_balances BOOLEAN NOT NULL,
        minted_at TIMESTAMPTZ NOT NULL DEFAULT now()
      )`,
      `CREATE TABLE IF NOT EXISTS accounts (
        id BIGINT NOT NULL PRIMARY KEY,
        balance BIGINT NOT NULL,
        opening_balance BIGINT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now()${
          allowNegativeBalances
            ? ''
            : `,
        CONSTRAINT accounts_balance_not_negative CHECK (balance >= 0)`
        }
      )`,
      // the client-chosen idempotency key is the primary key: a transfer is stored at most once
      `CREATE TABLE IF NOT EXISTS transfers (
        id UUID NOT NULL PRIMARY KEY,
        from_account BIGINT NOT NULL REFERENCES accounts (id),
        to_account BIGINT NOT NULL REFERENCES accounts (id),
        amount BIGINT NOT NULL CHECK (amount > 0),
        origin_region TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        CONSTRAINT transfers_distinct_accounts CHECK (from_account <> to_account)
      )`,
    ],
  },
]

export const SELECT_APPLIED_MIGRATIONS = `SELECT version FROM ${MIGRATIONS_TABLE} ORDER BY version`
export const RECORD_MIGRATION = `INSERT INTO ${MIGRATIONS_TABLE} (version, name) VALUES ($1, $2) ON CONFLICT (version) DO NOTHING`

export const SELECT_MINT =
  'SELECT accounts, opening_balance, total, allow_negative_balances, minted_at FROM ledger_mint WHERE id = 1'
/** $1 accounts, $2 opening balance, $3 total (= $1 * $2), $4 allow negatives */
export const INSERT_MINT =
  'INSERT INTO ledger_mint (id, accounts, opening_balance, total, allow_negative_balances) VALUES (1, $1, $2, $3, $4)'
/** $1 opening balance, $2 number of accounts: ids 1..$2 */
export const INSERT_ACCOUNTS =
  'INSERT INTO accounts (id, balance, opening_balance) SELECT g, $1, $1 FROM generate_series(1, $2) AS g'

/**
 * The transfer, as one statement inside a SERIALIZABLE transaction: record the
 * transfer under its idempotency key and move the money only when the key was new.
 * Returns the two updated account ids, or no row when the key already existed.
 * $1 id, $2 from, $3 to, $4 amount, $5 origin region.
 * Insufficient funds (where forbidden) surface as the CHECK violation 23514, an
 * unknown account as the foreign-key violation 23503: both roll back everything.
 */
export const TRANSFER = `WITH inserted AS (
  INSERT INTO transfers (id, from_account, to_account, amount, origin_region)
  VALUES ($1, $2, $3, $4, $5)
  ON CONFLICT (id) DO NOTHING
  RETURNING id
)
UPDATE accounts
SET balance = CASE WHEN id = $2 THEN balance - $4 ELSE balance + $4 END
WHERE id IN ($2, $3) AND EXISTS (SELECT 1 FROM inserted)
RETURNING id`

/**
 * The transfer stored under $1, confirmed durable: read in a transaction that also writes (a no-op
 * update of the stored sender's balance row), so that its commit, like a transfer's, waits for the
 * synchronous standbys, and no row is returned to the client before everything committed ahead of it
 * is replicated. Why: a transfer's commit record is visible on the primary to anyone who waited on
 * its locks as soon as its backend stops waiting for the standbys (PostgreSQL lets it go when the
 * postmaster dies or the backend is terminated); on a primary cut off from its standbys, that
 * transfer exists only there and is rewound when another node takes over. A plain SELECT there
 * would find it, and an "already applied" answer would be an acknowledgement of a lost transfer.
 * No row: nothing is stored under the key (or its sender's row is gone), and nothing was written.
 */
export const CONFIRM_TRANSFER = `WITH stored AS (
  SELECT id, from_account, to_account, amount, origin_region, created_at FROM transfers WHERE id = $1
), touched AS (
  UPDATE accounts SET balance = balance WHERE id = (SELECT from_account FROM stored) RETURNING id
)
SELECT id, from_account, to_account, amount, origin_region, created_at FROM stored WHERE EXISTS (SELECT 1 FROM touched)`

// --- verifier: every query streams or aggregates on the server; nothing loads all transfers

export const ACCOUNT_ID_RANGE = 'SELECT min(id) AS lo, max(id) AS hi FROM accounts'

/**
 * Replay for the accounts in [$1, $2], one row per account: stored balance,
 * opening balance, and incoming / outgoing sums grouped on the server. The client
 * sums the balances (conservation), counts the transfers (each has exactly one
 * existing to_account), compares each balance (replay) and checks its sign.
 */
export const REPLAY_CHUNK = `SELECT a.id, a.balance, a.opening_balance, coalesce(i.total, 0) AS incoming, coalesce(i.n, 0) AS transfers_in, coalesce(o.total, 0) AS outgoing
FROM accounts a
LEFT JOIN (SELECT to_account AS account, sum(amount) AS total, count(*) AS n FROM transfers WHERE to_account BETWEEN $1 AND $2 GROUP BY to_account) i ON i.account = a.id
LEFT JOIN (SELECT from_account AS account, sum(amount) AS total FROM transfers WHERE from_account BETWEEN $1 AND $2 GROUP BY from_account) o ON o.account = a.id
WHERE a.id BETWEEN $1 AND $2
ORDER BY a.id`

/** REPLAY_CHUNK for all accounts at once (no range filters to evaluate per transfer), when they fit one chunk */
export const REPLAY_ALL = `SELECT a.id, a.balance, a.opening_balance, coalesce(i.total, 0) AS incoming, coalesce(i.n, 0) AS transfers_in, coalesce(o.total, 0) AS outgoing
FROM accounts a
LEFT JOIN (SELECT to_account AS account, sum(amount) AS total, count(*) AS n FROM transfers GROUP BY to_account) i ON i.account = a.id
LEFT JOIN (SELECT from_account AS account, sum(amount) AS total FROM transfers GROUP BY from_account) o ON o.account = a.id
ORDER BY a.id`

/** whether transfers still has its primary key (then no id can be stored twice) */
export const TRANSFERS_PRIMARY_KEY = `SELECT count(*) AS n FROM information_schema.table_constraints
WHERE table_name = 'transfers' AND constraint_type = 'PRIMARY KEY' AND table_schema = current_schema()`

/**
 * Stored transfers in key order with what the integrity check compares (sender,
 * recipient, amount, origin), one page at a time (keyset pagination):
 * $1 last id (exclusive), $2 upper bound (inclusive), $3 page size.
 */
export const TRANSFER_ROWS_PAGE =
  'SELECT id, from_account, to_account, amount, origin_region FROM transfers WHERE id > $1 AND id <= $2 ORDER BY id LIMIT $3'
/** every stored transfer as "<id>\t<from>\t<to>\t<amount>" lines, in the table's physical order (COPY exists in both databases) */
export const COPY_TRANSFER_ROWS = 'COPY (SELECT id, from_account, to_account, amount FROM transfers) TO STDOUT'
/** COPY_TRANSFER_ROWS in PostgreSQL's binary format (less work for the server and the client; CockroachDB falls back to the text form) */
export const COPY_TRANSFER_ROWS_BINARY =
  'COPY (SELECT id, from_account, to_account, amount FROM transfers) TO STDOUT (FORMAT binary)'
/**
 * A 64-bit hash of a stored transfer's id, sender, recipient and amount: PostgreSQL's own hash functions chained
 * through their seeds (verify/digest.ts computes the same hash of each request of the run logs). PostgreSQL 11 and
 * later; elsewhere the statements below fail and verify joins row by row.
 */
export const TRANSFER_HASH =
  'hashint8extended(amount, hashint8extended(to_account, hashint8extended(from_account, uuid_hash_extended(id, 0))))'
/** The count of the stored transfers and the sum (exact, numeric) of their TRANSFER_HASH. */
export const STORED_TRANSFERS_DIGEST = `SELECT count(*) AS n, coalesce(sum(${TRANSFER_HASH}), 0)::text AS digest FROM transfers`
/**
 * REPLAY_ALL and STORED_TRANSFERS_DIGEST in one statement: the hashes are summed per recipient in the scan that sums
 * the incoming amounts (grouped over every stored transfer, not only those of existing accounts), so the table is
 * scanned twice instead of three times. Each row carries the totals: stored_transfers and stored_digest.
 */
export const REPLAY_ALL_WITH_DIGEST = `WITH i AS (SELECT to_account AS account, sum(amount) AS total, count(*) AS n, sum(${TRANSFER_HASH}) AS digest FROM transfers GROUP BY to_account),
stored AS (SELECT coalesce(sum(n), 0) AS n, coalesce(sum(digest), 0)::text AS digest FROM i)
SELECT a.id, a.balance, a.opening_balance, coalesce(i.total, 0) AS incoming, coalesce(i.n, 0) AS transfers_in, coalesce(o.total, 0) AS outgoing, stored.n AS stored_transfers, stored.digest AS stored_digest
FROM accounts a
LEFT JOIN i ON i.account = a.id
LEFT JOIN (SELECT from_account AS account, sum(amount) AS total FROM transfers GROUP BY from_account) o ON o.account = a.id
CROSS JOIN stored
ORDER BY a.id`
/** the first page of a range includes its lower bound */
export const TRANSFER_ROWS_FIRST_PAGE =
  'SELECT id, from_account, to_account, amount, origin_region FROM transfers WHERE id >= $1 AND id <= $2 ORDER BY id LIMIT $3'

/** server-side: ids stored more than once (only possible once the primary key is gone). $1 limit */
export const DUPLICATE_TRANSFER_IDS =
  'SELECT id, count(*) AS copies FROM transfers GROUP BY id HAVING count(*) > 1 ORDER BY id LIMIT $1'

/**
 * Which server a connection reached, to name it when it stops answering. PostgreSQL
 * only: elsewhere it fails and the caller names every host of the URL instead.
 */
export const SERVER_ADDRESS = 'SELECT inet_server_addr()::text AS host, inet_server_port() AS port'

/** cheap liveness and writability probe */
export const PING = 'SELECT 1 AS ok'
