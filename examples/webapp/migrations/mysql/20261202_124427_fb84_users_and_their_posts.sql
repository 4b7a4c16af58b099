-- corm revision: 20261202_124427_fb84
-- parent: base
-- message: users and their posts

-- +upgrade
CREATE TABLE `user` (
    `id` BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    `username` VARCHAR(80) NOT NULL UNIQUE,
    `email` VARCHAR(120) NOT NULL,
    `created_at` DATETIME(6) NOT NULL
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;
CREATE TABLE `post` (
    `id` BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    `title` VARCHAR(120) NOT NULL,
    `body` LONGTEXT NOT NULL,
    `user_id` BIGINT NOT NULL REFERENCES `user` (`id`),
    `created_at` DATETIME(6) NOT NULL
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;
CREATE INDEX `ix_post_user_id` ON `post` (`user_id`);

-- +downgrade
DROP TABLE `post`;
DROP TABLE `user`;
