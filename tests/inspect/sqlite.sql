-- Tables written by hand, as a DBA would for SQLite: names that are not C
-- identifiers, types corm does not write, defaults, a check, foreign keys,
-- a composite unique, an index. (keyless.sql adds tables models cannot take.)
CREATE TABLE "Customer Accounts" (
    "Account ID" INTEGER PRIMARY KEY,
    "E-mail" VARCHAR(120) NOT NULL UNIQUE,
    "select" TEXT,
    "CamelName" TEXT DEFAULT 'none',
    balance DECIMAL(12, 2) NOT NULL DEFAULT 0,
    "2fa" BOOLEAN NOT NULL DEFAULT 0,
    opened DATE,
    score REAL CHECK (score >= 0),
    notes CLOB
);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account INTEGER NOT NULL REFERENCES "Customer Accounts" ("Account ID") ON DELETE CASCADE,
    placed_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    total NUMERIC(10, 2),
    status VARCHAR(10) NOT NULL DEFAULT 'new',
    UNIQUE (account, placed_at)
);
CREATE INDEX orders_status ON orders (status);
CREATE TABLE "order line" (
    line_id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders (id),
    sku TEXT NOT NULL,
    qty INT NOT NULL DEFAULT 1,
    payload BLOB
);
INSERT INTO "Customer Accounts" ("E-mail", "select", balance, "2fa", opened, score)
    VALUES ('ann@example.org', 'x', 12.50, 1, '2024-02-29', 3.5);
INSERT INTO "Customer Accounts" ("E-mail") VALUES ('bob@example.org');
INSERT INTO orders (account, placed_at, total) VALUES (1, '2024-03-01 10:00:00', 99.99);
INSERT INTO orders (account, placed_at, total, status) VALUES (1, '2024-03-02 11:30:00', 5, 'paid');
INSERT INTO orders (account, placed_at) VALUES (2, '2024-03-03 09:15:00');
INSERT INTO "order line" (order_id, sku, qty, payload) VALUES (1, 'A-1', 2, X'00FF');
INSERT INTO "order line" (order_id, sku) VALUES (1, 'B-2');
