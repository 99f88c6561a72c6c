//! Prints the plan of one request as a psql script, to try generated SQL by hand:
//!
//! ```text
//! psql -Atc "$(cargo run -q -p rest --example plan -- --catalog-query)" -v ... > catalog.json
//! cargo run -q -p rest --example plan -- catalog.json GET customers 'select=id,orders(*)' \
//!     'Prefer: count=exact' | psql -At
//! ```
//!
//! Arguments: the catalog JSON file, method, path, decoded query (`a=1&b=2`), then any
//! `Name: value` headers, then optionally `--body JSON`. `--catalog-query SCHEMA...` prints
//! the catalog query with its parameter inlined instead.

use std::process::ExitCode;

fn literal(v: &Option<String>) -> String {
    match v {
        None => "NULL".to_string(),
        Some(s) => format!("'{}'", s.replace('\'', "''")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--catalog-query") {
        let schemas: Vec<String> = args[1..].to_vec();
        let p = rest::catalog_params(&schemas);
        println!("PREPARE pgrst_catalog AS {};\nEXECUTE pgrst_catalog({});", rest::CATALOG_QUERY, literal(&p[0]));
        return ExitCode::SUCCESS;
    }
    if args.len() < 4 {
        eprintln!("usage: plan CATALOG.json METHOD PATH QUERY [Header: value]... [--body JSON]");
        return ExitCode::FAILURE;
    }
    let catalog = match std::fs::read_to_string(&args[0]).map(|s| serde_json::from_str(&s)) {
        Ok(Ok(v)) => v,
        _ => {
            eprintln!("cannot read {}", args[0]);
            return ExitCode::FAILURE;
        }
    };
    let cache = match rest::SchemaCache::from_json(catalog) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bad catalog: {e}");
            return ExitCode::FAILURE;
        }
    };
    let query: Vec<(String, String)> = args[3]
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            kv.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).unwrap_or((kv.to_string(), String::new()))
        })
        .collect();
    let mut headers = Vec::new();
    let mut body = None;
    let mut rest = args[4..].iter();
    while let Some(a) = rest.next() {
        if a == "--body" {
            body = rest.next().cloned();
        } else if let Some((k, v)) = a.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let exposed = vec!["public".to_string()];
    let planned = rest::parse_request(&args[1], &args[2], &query, &headers, &exposed)
        .and_then(|req| rest::plan(&req, &cache, body.as_deref().map(str::as_bytes)));
    match planned {
        Ok(p) => {
            let params: Vec<String> = p.params.iter().map(literal).collect();
            eprintln!("-- shape: {:?}", p.shape);
            println!("BEGIN;\nPREPARE pgrst AS {};", p.sql);
            if params.is_empty() {
                println!("EXECUTE pgrst;");
            } else {
                println!("EXECUTE pgrst({});", params.join(", "));
            }
            println!("ROLLBACK;");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("{}", serde_json::to_string(&e.body()).unwrap_or_default());
            ExitCode::FAILURE
        }
    }
}
