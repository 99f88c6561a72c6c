//! PostgREST's query-string grammar: `select`, filters, `or`/`and` trees, `order`, column
//! lists and the keys that address embedded resources. Input is already percent-decoded.
//! Errors are PGRST100 with the 1-based column where parsing stopped, like PostgREST's.

use crate::ast::*;
use crate::cursor::Cursor;
use crate::error::Error;

impl Cursor {
    fn select_list(&mut self) -> Result<Vec<SelectItem>, Error> {
        let mut items = Vec::new();
        self.skip_ws();
        if self.at_end() || self.peek() == Some(')') {
            return Ok(items);
        }
        loop {
            items.push(self.select_item()?);
            self.skip_ws();
            if !self.eat(',') {
                return Ok(items);
            }
        }
    }

    fn select_item(&mut self) -> Result<SelectItem, Error> {
        self.skip_ws();
        if self.starts_with("...") {
            return Err(Error::NotImplemented("spread embedding (...) in select".into()));
        }
        if self.eat('*') {
            self.skip_ws();
            return Ok(SelectItem::Star);
        }
        let alias = self.alias();
        if self.starts_with("count()") {
            return Err(Error::NotImplemented("aggregate functions in select".into()));
        }
        let name = self.field_name()?;
        if matches!(self.peek(), Some('!' | '(')) {
            return self.embed(name, alias).map(SelectItem::Embed);
        }
        let json_path = self.json_path()?;
        let cast = if self.eat_str("::") { Some(self.cast_type()?) } else { None };
        if self.peek() == Some('.') && self.starts_with_aggregate() {
            return Err(Error::NotImplemented("aggregate functions in select".into()));
        }
        self.skip_ws();
        if !matches!(self.peek(), None | Some(',' | ')')) {
            return Err(self.fail("\",\" or \")\" or end of input"));
        }
        Ok(SelectItem::Field { field: Field { name, json_path }, alias, cast })
    }

    fn starts_with_aggregate(&self) -> bool {
        ["sum()", "avg()", "count()", "max()", "min()"].iter().any(|a| self.starts_with(&format!(".{a}")))
    }

    fn cast_type(&mut self) -> Result<String, Error> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '$' | ' ')) {
            self.pos += 1;
        }
        let t: String = self.since(start).trim().to_string();
        if t.is_empty() {
            return Err(self.fail("type name"));
        }
        Ok(t)
    }

    fn embed(&mut self, name: String, alias: Option<String>) -> Result<Embed, Error> {
        let mut hint = None;
        let mut inner = false;
        for _ in 0..2 {
            if !self.eat('!') {
                break;
            }
            if self.eat_str("inner") && matches!(self.peek(), Some('!' | '(')) {
                inner = true;
            } else if self.eat_str("left") && matches!(self.peek(), Some('!' | '(')) {
                inner = false;
            } else {
                hint = Some(self.field_name()?);
            }
        }
        self.expect('(')?;
        let select = self.select_list()?;
        self.expect(')')?;
        self.skip_ws();
        Ok(Embed { name, alias, hint, inner, select })
    }

    /// `[not.]op[(modifier)].value`; `value` reads the operand, which differs between a
    /// top-level filter (the rest of the input) and one inside `or=(...)`.
    fn op_expr(&mut self, value: fn(&mut Cursor) -> Result<String, Error>) -> Result<(bool, Operation), Error> {
        let negate = self.eat_str("not.");
        let op_start = self.pos;
        let name = self.operation_name();
        let cmp = |op| Some(op);
        let simple = match name.as_str() {
            "eq" => cmp(CmpOp::Eq),
            "neq" => cmp(CmpOp::Neq),
            "gt" => cmp(CmpOp::Gt),
            "gte" => cmp(CmpOp::Gte),
            "lt" => cmp(CmpOp::Lt),
            "lte" => cmp(CmpOp::Lte),
            "like" => cmp(CmpOp::Like),
            "ilike" => cmp(CmpOp::Ilike),
            "match" => cmp(CmpOp::Match),
            "imatch" => cmp(CmpOp::Imatch),
            "cs" => cmp(CmpOp::Contains),
            "cd" => cmp(CmpOp::ContainedIn),
            "ov" => cmp(CmpOp::Overlaps),
            "sl" => cmp(CmpOp::StrictlyLeft),
            "sr" => cmp(CmpOp::StrictlyRight),
            "nxr" => cmp(CmpOp::NotExtendsRight),
            "nxl" => cmp(CmpOp::NotExtendsLeft),
            "adj" => cmp(CmpOp::Adjacent),
            "isdistinct" => cmp(CmpOp::IsDistinct),
            _ => None,
        };
        if let Some(op) = simple {
            let quantifiable = matches!(
                op,
                CmpOp::Eq
                    | CmpOp::Gt
                    | CmpOp::Gte
                    | CmpOp::Lt
                    | CmpOp::Lte
                    | CmpOp::Like
                    | CmpOp::Ilike
                    | CmpOp::Match
                    | CmpOp::Imatch
            );
            let quantifier = if quantifiable && self.eat_str("(any)") {
                Some(Quantifier::Any)
            } else if quantifiable && self.eat_str("(all)") {
                Some(Quantifier::All)
            } else {
                None
            };
            self.expect('.')?;
            return Ok((negate, Operation::Cmp { op, quantifier, value: value(self)? }));
        }
        let fts = match name.as_str() {
            "fts" => Some(FtsOp::Fts),
            "plfts" => Some(FtsOp::Plain),
            "phfts" => Some(FtsOp::Phrase),
            "wfts" => Some(FtsOp::Websearch),
            _ => None,
        };
        if let Some(op) = fts {
            let language = if self.eat('(') {
                let lang = self.cast_type()?;
                self.expect(')')?;
                Some(lang)
            } else {
                None
            };
            self.expect('.')?;
            return Ok((negate, Operation::Fts { op, language, value: value(self)? }));
        }
        match name.as_str() {
            "in" => {
                self.expect('.')?;
                Ok((negate, Operation::In(self.list()?)))
            }
            "is" => {
                self.expect('.')?;
                let start = self.pos;
                let word: String = self.operation_name_with_underscore().to_ascii_lowercase();
                let v = match word.as_str() {
                    "null" => IsValue::Null,
                    "not_null" => IsValue::NotNull,
                    "true" => IsValue::True,
                    "false" => IsValue::False,
                    "unknown" => IsValue::Unknown,
                    _ => {
                        self.pos = start;
                        return Err(self.fail("isVal: (null, not_null, true, false, unknown)"));
                    }
                };
                Ok((negate, Operation::Is(v)))
            }
            _ => {
                self.pos = op_start;
                let mut e = self.fail("operator (eq, gt, ...)");
                if let (Error::Parse { details, .. }, false) = (&mut e, name.is_empty()) {
                    *details = format!("unknown operator \"{name}\" expecting operator (eq, gt, ...)");
                }
                Err(e)
            }
        }
    }

    /// An operand inside `or=(...)`: a quoted value, a `{...}` array, or text up to `,`/`)`.
    fn logic_value(&mut self) -> Result<String, Error> {
        if self.peek() == Some('"') {
            return self.list_element();
        }
        if self.peek() == Some('{') {
            let start = self.pos;
            let body = self.until(&['}']);
            if self.eat('}') {
                return Ok(format!("{body}}}"));
            }
            self.pos = start;
        }
        Ok(self.until(&[',', ')']))
    }

    fn logic_children(&mut self) -> Result<Vec<LogicTree>, Error> {
        self.skip_ws();
        self.expect('(')?;
        let mut children = Vec::new();
        loop {
            self.skip_ws();
            children.push(self.logic_node()?);
            self.skip_ws();
            if !self.eat(',') {
                break;
            }
        }
        self.expect(')')?;
        self.skip_ws();
        Ok(children)
    }

    fn logic_node(&mut self) -> Result<LogicTree, Error> {
        let save = self.pos;
        let negate = self.eat_str("not.");
        for (word, or) in [("and(", false), ("or(", true)] {
            if self.starts_with(word) {
                self.pos += word.len() - 1;
                return Ok(LogicTree::Group { negate, or, children: self.logic_children()? });
            }
        }
        self.pos = save;
        let field = self.field()?;
        self.expect('.')?;
        let (negate, operation) = self.op_expr(Cursor::logic_value)?;
        Ok(LogicTree::Filter(Filter { field, negate, operation }))
    }
}

/// `select=` as written; an empty value selects `*`.
pub fn parse_select(input: &str) -> Result<Vec<SelectItem>, Error> {
    let mut c = Cursor::new("select parameter", input);
    let items = c.select_list()?;
    c.expect_end()?;
    Ok(if items.is_empty() { vec![SelectItem::Star] } else { items })
}

/// The value of `col=...`, with the column already known.
pub fn parse_filter(field: Field, input: &str) -> Result<Filter, Error> {
    let mut c = Cursor::new("filter", input);
    let (negate, operation) = c.op_expr(|c| Ok(c.rest()))?;
    c.expect_end()?;
    Ok(Filter { field, negate, operation })
}

/// The value of `or=`/`and=` (or `not.or=`, `orders.and=`), `(a.eq.1,b.gt.2)`.
pub fn parse_logic(or: bool, negate: bool, input: &str) -> Result<LogicTree, Error> {
    let mut c = Cursor::new("logic tree", input);
    let children = c.logic_children()?;
    c.expect_end()?;
    Ok(LogicTree::Group { negate, or, children })
}

/// `order=a.desc.nullslast,b`.
pub fn parse_order(input: &str) -> Result<Vec<OrderTerm>, Error> {
    let mut c = Cursor::new("order", input);
    let mut terms = Vec::new();
    loop {
        let field = c.field()?;
        if c.peek() == Some('(') {
            return Err(Error::NotImplemented("ordering by a related table's column".into()));
        }
        let direction = if c.eat_str(".asc") {
            Some(Direction::Asc)
        } else if c.eat_str(".desc") {
            Some(Direction::Desc)
        } else {
            None
        };
        let nulls = if c.eat_str(".nullsfirst") {
            Some(Nulls::First)
        } else if c.eat_str(".nullslast") {
            Some(Nulls::Last)
        } else {
            None
        };
        c.skip_ws();
        terms.push(OrderTerm { field, direction, nulls });
        if !c.eat(',') {
            break;
        }
    }
    c.expect_end()?;
    Ok(terms)
}

/// `columns=` and `on_conflict=`: `a,"b c",d`.
pub fn parse_columns(what: &'static str, input: &str) -> Result<Vec<String>, Error> {
    let mut c = Cursor::new(what, input);
    let mut cols = Vec::new();
    loop {
        c.skip_ws();
        cols.push(c.field_name()?);
        c.skip_ws();
        if !c.eat(',') {
            break;
        }
    }
    c.expect_end()?;
    Ok(cols)
}

/// A query-string key: `col`, `data->>a`, `orders.amount`, `orders.items.qty`.
pub fn parse_key(input: &str) -> Result<(EmbedPath, Field), Error> {
    let mut c = Cursor::new("tree path", input);
    let mut names = vec![c.field_name()?];
    while c.eat('.') {
        names.push(c.field_name()?);
    }
    let json_path = c.json_path()?;
    c.expect_end()?;
    let name = names.pop().unwrap_or_default();
    Ok((names, Field { name, json_path }))
}
