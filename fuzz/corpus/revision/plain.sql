-- corm revision: 20240101_120000_abcd
-- message: add age field to User
-- parent: base

-- +upgrade
ALTER TABLE "user" ADD COLUMN age INTEGER NOT NULL DEFAULT 18;
CREATE INDEX ix_user_age ON "user" (age);

-- +downgrade
DROP INDEX ix_user_age;
ALTER TABLE "user" DROP COLUMN age;
