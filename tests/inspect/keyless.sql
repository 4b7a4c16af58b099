-- Tables a corm model cannot describe (the same SQL on every backend):
-- one without a primary key, one whose key has two columns.
CREATE TABLE audit_log (at VARCHAR(30), what VARCHAR(100));
CREATE TABLE account_link (a INTEGER NOT NULL, b INTEGER NOT NULL, PRIMARY KEY (a, b));
INSERT INTO audit_log VALUES ('2024-03-01 10:00:00', 'opened');
