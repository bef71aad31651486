import type {Sql} from 'postgres'

/**
 * Bench set-up only (not the ledger's SQL): `transfers` random transfers between
 * `accounts` accounts, then every balance made consistent with them, so verify
 * and restore start from a ledger that balances.
 */
export async function seedRandomTransfers(sql: Sql, accounts: number, transfers: number): Promise<void> {
  await sql.unsafe(`INSERT INTO transfers (id, from_account, to_account, amount, origin_region)
    SELECT gen_random_uuid(), f, CASE WHEN t >= f THEN t + 1 ELSE t END, 1 + floor(random() * 100)::int, 'us'
    FROM (SELECT 1 + floor(random() * ${accounts})::int AS f, 1 + floor(random() * ${accounts - 1})::int AS t FROM generate_series(1, ${transfers})) s`)
  await sql.unsafe(`UPDATE accounts a SET balance = a.opening_balance + coalesce(i.total, 0) - coalesce(o.total, 0)
    FROM accounts x
    LEFT JOIN (SELECT to_account AS account, sum(amount) AS total FROM transfers GROUP BY to_account) i ON i.account = x.id
    LEFT JOIN (SELECT from_account AS account, sum(amount) AS total FROM transfers GROUP BY from_account) o ON o.account = x.id
    WHERE a.id = x.id`)
}
