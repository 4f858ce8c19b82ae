-- pg_success install script, version 0.1.
--
-- Assembled by the Makefile from schema/*.sql in name order. Every object is
-- created in the schema cs and referred to by its qualified name, and every
-- function pins its search_path.

\echo Use "CREATE EXTENSION pg_success" to load this file. \quit

