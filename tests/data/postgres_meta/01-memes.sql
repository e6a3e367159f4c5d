-- Vendored from supabase/postgres-meta, test/db/01-memes.sql at commit 641831e0555d8f9eab278014956ec2cf1ee1174d (tag v0.98.0).
-- Copyright Supabase; licensed under the Apache License 2.0 (LICENSE in this folder).
-- Changed here: of the 2,400 rows the original inserts into public.memes, only the first 6 are
-- kept (the catalogue routes read no table's rows); everything else is unchanged.



CREATE TABLE public.category (
	id serial NOT NULL PRIMARY KEY,
	name text NOT NULL
);

-- Fake policies
grant select, update(name)
on category
to postgres;

create policy categories_update_policy
on category for update 
to postgres
using(current_setting('my.username') IN (name));

INSERT INTO public.category (id, name) VALUES
(1, 'Funny'),
(2, 'Weird'),
(3, 'Dumb'),
(4, 'Cute'),
(5, 'Interesting');

CREATE TYPE meme_status AS ENUM ('new', 'old', 'retired');

CREATE TABLE public.memes (
	id serial NOT NULL PRIMARY KEY,
	name text NOT NULL,
	category INTEGER REFERENCES category(id),
	metadata jsonb,
	created_at TIMESTAMP NOT NULL,
	status meme_status DEFAULT 'old'
);

INSERT INTO public.memes (name, category, created_at) VALUES
('NO. Rage Face', 5, NOW()),
('"Not Bad" Obama Face', 5, NOW()),
('You Know I Had to Do It to Em', 5, NOW()),
('Rage Comics', 1, NOW()),
('Okay Guy', 4, NOW()),
('Derp', 2, NOW());
