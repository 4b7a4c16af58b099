-- corm revision: m1
-- message: merge
-- parent: a1 b2
-- +upgrade
INSERT INTO t (s) VALUES ('a; b'), ('it''s');
-- +downgrade
DELETE FROM t WHERE s = 'x;
y';
