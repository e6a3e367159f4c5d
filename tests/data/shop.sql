-- The realistic schema of the Postgres catalogue tests: several schemas, foreign keys (composite
-- and self-referencing), RLS policies, triggers, enums, composite and domain types, views, a
-- materialized view, a partitioned table, an extension, publications and privileges.
CREATE EXTENSION citext;
DO $$ BEGIN
    CREATE ROLE udb_shop_reader NOLOGIN;
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN
    CREATE ROLE udb_shop_clerk NOLOGIN;
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
CREATE SCHEMA shop;
CREATE SCHEMA audit;
CREATE TYPE shop.order_status AS ENUM ('pending', 'paid', 'shipped', 'cancelled');
COMMENT ON TYPE shop.order_status IS 'Lifecycle of an order';
CREATE TYPE shop.address AS (street text, city text, zip varchar(10));
CREATE DOMAIN shop.positive_price AS numeric(12, 2) CHECK (VALUE > 0) NOT NULL;
CREATE TABLE shop.customers (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email citext NOT NULL UNIQUE,
    name text NOT NULL CHECK (length(name) > 0),
    address shop.address,
    tags text[] DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE shop.customers IS 'People who buy';
COMMENT ON COLUMN shop.customers.email IS 'Login and contact';
CREATE TABLE shop.products (
    sku text PRIMARY KEY,
    title text NOT NULL,
    price shop.positive_price,
    weight_g integer CHECK (weight_g >= 0),
    attributes jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE TABLE shop.orders (
    id bigserial PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES shop.customers (id) ON DELETE CASCADE,
    status shop.order_status NOT NULL DEFAULT 'pending',
    statuses shop.order_status[],
    total numeric(12, 2) GENERATED ALWAYS AS (0) STORED,
    placed_at timestamp DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE shop.order_lines (
    order_id bigint REFERENCES shop.orders (id),
    line_no int,
    sku text NOT NULL REFERENCES shop.products (sku),
    quantity int NOT NULL DEFAULT 1,
    PRIMARY KEY (order_id, line_no)
);
CREATE TABLE shop.shipments (
    order_id bigint,
    line_no int,
    carrier text,
    parent_id int REFERENCES shop.shipments (id2),
    id2 int UNIQUE,
    FOREIGN KEY (order_id, line_no) REFERENCES shop.order_lines (order_id, line_no)
);
CREATE TABLE audit.events (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    order_id bigint REFERENCES shop.orders (id),
    happened_at timestamptz NOT NULL DEFAULT now(),
    payload jsonb,
    PRIMARY KEY (id, happened_at)
) PARTITION BY RANGE (happened_at);
CREATE TABLE audit.events_2024 PARTITION OF audit.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
ALTER TABLE shop.orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE shop.orders REPLICA IDENTITY FULL;
ALTER TABLE shop.customers ENABLE ROW LEVEL SECURITY;
ALTER TABLE shop.customers FORCE ROW LEVEL SECURITY;
CREATE POLICY orders_read ON shop.orders FOR SELECT USING (status <> 'cancelled');
CREATE POLICY orders_clerk ON shop.orders AS RESTRICTIVE FOR UPDATE TO udb_shop_clerk, udb_shop_reader
    USING (true) WITH CHECK (status <> 'pending');
CREATE POLICY customers_insert ON shop.customers FOR INSERT TO udb_shop_clerk WITH CHECK (length(name) < 200);
CREATE POLICY customers_all ON shop.customers TO udb_shop_reader USING (email IS NOT NULL);
CREATE FUNCTION audit.record_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit.events (order_id, happened_at, payload) VALUES (NEW.id, '2024-06-01', to_jsonb(NEW));
    RETURN NEW;
END $$;
CREATE FUNCTION shop.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER orders_audit AFTER INSERT OR UPDATE OR DELETE ON shop.orders
    FOR EACH ROW EXECUTE FUNCTION audit.record_event();
CREATE TRIGGER orders_paid BEFORE UPDATE OF status ON shop.orders
    FOR EACH ROW WHEN (NEW.status = 'paid') EXECUTE FUNCTION shop.touch('paid', 'x;y');
CREATE TRIGGER customers_stmt AFTER TRUNCATE OR DELETE ON shop.customers
    FOR EACH STATEMENT EXECUTE FUNCTION shop.touch();
ALTER TABLE shop.customers DISABLE TRIGGER customers_stmt;
CREATE VIEW shop.order_totals AS
    SELECT o.id, o.customer_id, sum(l.quantity) AS items
    FROM shop.orders o JOIN shop.order_lines l ON l.order_id = o.id GROUP BY o.id;
CREATE VIEW shop.paid_orders AS SELECT id, customer_id, status FROM shop.orders WHERE status = 'paid';
COMMENT ON VIEW shop.paid_orders IS 'Orders that are paid';
CREATE TRIGGER paid_orders_insert INSTEAD OF INSERT ON shop.paid_orders
    FOR EACH ROW EXECUTE FUNCTION shop.touch();
CREATE MATERIALIZED VIEW shop.customer_stats AS
    SELECT customer_id, count(*) AS orders FROM shop.orders GROUP BY customer_id;
CREATE FUNCTION shop.order_count(customer bigint, since timestamptz DEFAULT '-infinity')
    RETURNS bigint LANGUAGE sql STABLE
    AS $$ SELECT count(*) FROM shop.orders WHERE customer_id = customer AND placed_at >= since $$;
CREATE FUNCTION shop.orders_of(customer bigint) RETURNS SETOF shop.orders LANGUAGE sql STABLE ROWS 50
    AS $$ SELECT * FROM shop.orders WHERE customer_id = customer $$;
CREATE FUNCTION shop.split_sku(sku text, OUT prefix text, OUT num int) LANGUAGE sql IMMUTABLE
    AS $$ SELECT split_part(sku, '-', 1), split_part(sku, '-', 2)::int $$;
CREATE FUNCTION shop.lines(o bigint) RETURNS TABLE (line int, qty int) LANGUAGE sql
    SECURITY DEFINER SET search_path = shop, pg_temp
    AS $$ SELECT line_no, quantity FROM shop.order_lines WHERE order_id = o $$;
CREATE FUNCTION shop.total(VARIADIC prices numeric[]) RETURNS numeric LANGUAGE sql IMMUTABLE
    AS $$ SELECT sum(p) FROM unnest(prices) p $$;
CREATE PROCEDURE shop.archive() LANGUAGE sql AS $$ SELECT 1 $$;
INSERT INTO shop.customers (email, name) VALUES ('a@example.com', 'Ann'), ('b@example.com', 'Bob');
INSERT INTO shop.products VALUES ('A-1', 'Anvil', 10.50, 1000, '{"color": "black"}');
INSERT INTO shop.orders (customer_id, status) VALUES (1, 'paid'), (2, 'pending');
INSERT INTO shop.order_lines VALUES (1, 1, 'A-1', 2);
CREATE TABLE public.notes (id serial PRIMARY KEY, body text);
-- Publications, privileges, role settings and more kinds of index, for the catalogue routes
-- that show them.
CREATE PUBLICATION shop_changes FOR TABLE shop.orders, shop.customers WITH (publish = 'insert, update');
CREATE PUBLICATION shop_everything FOR ALL TABLES;
CREATE PUBLICATION shop_nothing;
GRANT USAGE ON SCHEMA shop TO udb_shop_reader, udb_shop_clerk;
GRANT SELECT ON shop.orders, shop.customers TO udb_shop_reader;
GRANT UPDATE (status), REFERENCES (id) ON shop.orders TO udb_shop_clerk WITH GRANT OPTION;
GRANT SELECT (email) ON shop.customers TO PUBLIC;
REVOKE ALL ON shop.products FROM udb_shop_reader;
ALTER ROLE udb_shop_clerk SET search_path = shop, public;
ALTER ROLE udb_shop_reader VALID UNTIL '2030-01-01 00:00:00+00' CONNECTION LIMIT 5;
CREATE UNIQUE INDEX products_title_lower ON shop.products (lower(title));
CREATE INDEX orders_open ON shop.orders (id DESC NULLS LAST) WHERE status <> 'cancelled';
CREATE INDEX order_lines_sku_qty ON shop.order_lines (sku) INCLUDE (quantity);
COMMENT ON INDEX shop.orders_open IS 'Orders still to ship';
CREATE EXTENSION IF NOT EXISTS postgres_fdw;
CREATE SERVER shop_archive FOREIGN DATA WRAPPER postgres_fdw OPTIONS (dbname 'shop_archive');
CREATE FOREIGN TABLE audit.archived_orders (id bigint NOT NULL, total numeric(12, 2), note text)
    SERVER shop_archive OPTIONS (table_name 'orders');
COMMENT ON FOREIGN TABLE audit.archived_orders IS 'Orders of past years';
