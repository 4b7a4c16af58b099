-- The same SQL on every backend: a table without a primary key, which no
-- corm model describes, and one whose key has two columns.
CREATE TABLE audit_log (at VARCHAR(30), what VARCHAR(100));
CREATE TABLE account_link (a INTEGER NOT NULL, b INTEGER NOT NULL, PRIMARY KEY (a, b));
INSERT INTO audit_log VALUES ('2024-03-01 10:00:00', 'opened');
