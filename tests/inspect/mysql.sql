-- Tables written by hand, as a DBA would for MariaDB: names that are not C
-- identifiers (the connection quotes with "", ANSI_QUOTES), INT and
-- AUTO_INCREMENT keys, MEDIUMTEXT, defaults, a check, foreign keys (and the
-- index MariaDB makes for one), a composite unique, an index.
CREATE TABLE "Customer Accounts" (
    "Account ID" INT AUTO_INCREMENT PRIMARY KEY,
    "E-mail" VARCHAR(120) NOT NULL UNIQUE,
    "select" TEXT,
    "CamelName" VARCHAR(40) DEFAULT 'none',
    balance DECIMAL(12, 2) NOT NULL DEFAULT 0,
    "2fa" BOOLEAN NOT NULL DEFAULT 0,
    opened DATE,
    score FLOAT CHECK (score >= 0),
    notes MEDIUMTEXT
) ENGINE=InnoDB;
CREATE TABLE orders (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    account INT NOT NULL,
    placed_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    total DECIMAL(10, 2),
    status VARCHAR(10) NOT NULL DEFAULT 'new',
    UNIQUE (account, placed_at),
    FOREIGN KEY (account) REFERENCES "Customer Accounts" ("Account ID") ON DELETE CASCADE
) ENGINE=InnoDB;
CREATE INDEX orders_status ON orders (status);
CREATE TABLE "order line" (
    line_id INT AUTO_INCREMENT PRIMARY KEY,
    order_id BIGINT NOT NULL,
    sku VARCHAR(40) NOT NULL,
    qty INT NOT NULL DEFAULT 1,
    payload BLOB,
    FOREIGN KEY (order_id) REFERENCES orders (id)
) ENGINE=InnoDB;
INSERT INTO "Customer Accounts" ("E-mail", "select", balance, "2fa", opened, score)
    VALUES ('ann@example.org', 'x', 12.50, 1, '2024-02-29', 3.5);
INSERT INTO "Customer Accounts" ("E-mail") VALUES ('bob@example.org');
INSERT INTO orders (account, placed_at, total) VALUES (1, '2024-03-01 10:00:00', 99.99);
INSERT INTO orders (account, placed_at, total, status) VALUES (1, '2024-03-02 11:30:00', 5, 'paid');
INSERT INTO orders (account, placed_at) VALUES (2, '2024-03-03 09:15:00');
INSERT INTO "order line" (order_id, sku, qty, payload) VALUES (1, 'A-1', 2, X'00FF');
INSERT INTO "order line" (order_id, sku) VALUES (1, 'B-2');
