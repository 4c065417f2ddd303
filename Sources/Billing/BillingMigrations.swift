import Storage

/// The token ledger: every change of a balance is a row, never updated or deleted; the balance
/// row is the ledger's sum, written in the same transaction, so spending can be checked and
/// taken in one statement.
package enum BillingMigrations {
    package static let all: [Migration] = [
        Migration(
            "billing/001_ledger",
            [
                """
                CREATE TABLE token_ledger (
                    id TEXT PRIMARY KEY,
                    account_id TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    delta BIGINT NOT NULL,
                    reason TEXT NOT NULL,
                    external_key TEXT UNIQUE,
                    created_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX token_ledger_account ON token_ledger (account_id, created_at)",
                """
                CREATE TABLE token_balances (
                    account_id TEXT PRIMARY KEY,
                    balance BIGINT NOT NULL CHECK (balance >= 0),
                    reserved BIGINT NOT NULL CHECK (reserved >= 0),
                    spent BIGINT NOT NULL CHECK (spent >= 0),
                    updated_at BIGINT NOT NULL
                )
                """,
            ]
        )
    ]
}
