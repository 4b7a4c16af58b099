-- corm revision: 20261202_124422_34b3
-- parent: base
-- message: users and their posts

-- +upgrade
CREATE TABLE "user" (
    "id" INTEGER PRIMARY KEY,
    "username" VARCHAR(80) NOT NULL UNIQUE,
    "email" VARCHAR(120) NOT NULL,
    "created_at" DATETIME NOT NULL
);
CREATE TABLE "post" (
    "id" INTEGER PRIMARY KEY,
    "title" VARCHAR(120) NOT NULL,
    "body" TEXT NOT NULL,
    "user_id" INTEGER NOT NULL REFERENCES "user" ("id"),
    "created_at" DATETIME NOT NULL
);
CREATE INDEX "ix_post_user_id" ON "post" ("user_id");

-- +downgrade
DROP TABLE "post";
DROP TABLE "user";
