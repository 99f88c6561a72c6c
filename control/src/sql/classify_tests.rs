use super::*;
use StatementKind as K;

fn kinds(text: &str) -> Vec<StatementKind> {
    classify(text).kinds.into_iter().collect()
}

#[test]
fn plain_reads_and_writes_with_a_where_are_not_held() {
    for text in [
        "select * from t where id = 1",
        "select count(*), max(x), lower(name) from t group by 3",
        "insert into t (a) values (1), (2)",
        "update t set a = 1 where id = 2",
        "delete from t where id = 3",
        "create table t (id int primary key)",
        "create index on t (a)",
        "with x as (select 1) select * from x",
    ] {
        assert_eq!(kinds(text), vec![], "{text}");
    }
}

#[test]
fn the_configured_kinds_are_found() {
    assert_eq!(kinds("DROP TABLE t"), vec![K::Drop]);
    assert_eq!(kinds("drop database x"), vec![K::Drop]);
    assert_eq!(kinds("TRUNCATE t"), vec![K::Truncate]);
    assert_eq!(kinds("alter table t add column b int"), vec![K::Alter]);
    assert_eq!(kinds("alter table t rename to u"), vec![K::Alter]);
    assert_eq!(kinds("ALTER ROLE current_user SET work_mem = '1GB'"), vec![K::Alter]);
    assert_eq!(kinds("delete from t"), vec![K::DeleteWithoutWhere]);
    assert_eq!(kinds("update t set a = 1"), vec![K::UpdateWithoutWhere]);
    assert_eq!(kinds("create or replace view v as select 1"), vec![K::Alter]);
}

#[test]
fn comments_case_and_spacing_change_nothing() {
    assert_eq!(kinds("/* harmless */ DrOp /* x */ TaBlE -- y\n t"), vec![K::Drop]);
    assert_eq!(kinds("  tRuNcAtE\n\tONLY t  "), vec![K::Truncate]);
}

#[test]
fn every_statement_of_a_text_counts() {
    assert_eq!(kinds("select 1; select 2; drop table t"), vec![K::Drop]);
    assert_eq!(kinds("begin; delete from t; commit"), vec![K::DeleteWithoutWhere]);
}

#[test]
fn nested_statements_are_found() {
    assert_eq!(kinds("with d as (delete from t returning *) select * from d"), vec![K::DeleteWithoutWhere]);
    assert_eq!(kinds("explain analyze delete from t"), vec![K::DeleteWithoutWhere]);
    assert_eq!(kinds("prepare p as update t set a = 1"), vec![K::UpdateWithoutWhere]);
}

#[test]
fn code_whose_effect_the_text_does_not_show_is_unclassified() {
    for text in [
        "DO $$ BEGIN EXECUTE 'DROP TABLE t'; END $$",
        "do $$ begin perform 1; end $$",
        "call p()",
        "execute p",
        "select my_cleanup()",
        "select public.lower('x')",
        "select * from evil()",
        "select 1 where exists (select nuke())",
        "create function f() returns int language sql as 'select 1'",
        "create trigger tr after insert on t for each row execute function f()",
        "set search_path = evil, public",
        "set role other",
        "merge into t using u on t.id = u.id when matched then delete",
    ] {
        assert!(kinds(text).contains(&K::Unclassified), "{text}: {:?}", kinds(text));
    }
}

#[test]
fn replacing_a_function_is_an_alteration_too() {
    let k = kinds("create or replace function f() returns int language sql as 'select 1'");
    assert_eq!(k, vec![K::Alter, K::Unclassified]);
}

#[test]
fn built_in_functions_qualified_to_pg_catalog_are_safe() {
    assert_eq!(kinds("select pg_catalog.lower('A'), now(), jsonb_build_object('a', 1)"), vec![]);
}

#[test]
fn text_that_does_not_parse_is_held_and_never_kept() {
    let c = classify("drop tabel t 'secret'");
    assert_eq!(c.kinds.into_iter().collect::<Vec<_>>(), vec![K::Unclassified]);
    assert_eq!(c.normalized, None);
    assert_eq!(c.fingerprint.len(), 16);
}

#[test]
fn constants_are_taken_out_and_the_fingerprint_ignores_them() {
    let a = classify("select * from users where email = 'alice@example.com' and id = 7");
    let b = classify("select * from users where email = 'bob@example.com' and id = 8");
    assert_eq!(a.fingerprint, b.fingerprint);
    let text = a.normalized.expect("normalized");
    assert!(!text.contains("alice") && text.contains("$1") && text.contains("$2"), "{text}");
    let pw = classify("alter role me password 'hunter2'").normalized.expect("normalized");
    assert!(!pw.contains("hunter2"), "{pw}");
}
