//! What a PostgREST query string means, before any name is checked against the schema cache.

/// One step of a JSON path: `->key`, `->>key`, `->0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonStep {
    /// `->`: the step keeps JSON.
    Arrow(JsonKey),
    /// `->>`: the step yields text.
    DoubleArrow(JsonKey),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonKey {
    Key(String),
    Index(i64),
}

/// A column, maybe followed by a JSON path: `data->a->>b`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub json_path: Vec<JsonStep>,
}

impl Field {
    pub fn column(name: &str) -> Self {
        Field { name: name.to_string(), json_path: Vec::new() }
    }

    /// The key PostgREST gives this field in the JSON answer: the last JSON key, else the
    /// column name.
    pub fn default_alias(&self) -> String {
        match self.json_path.last() {
            Some(JsonStep::Arrow(JsonKey::Key(k)) | JsonStep::DoubleArrow(JsonKey::Key(k))) => k.clone(),
            Some(JsonStep::Arrow(JsonKey::Index(_)) | JsonStep::DoubleArrow(JsonKey::Index(_))) | None => {
                self.name.clone()
            }
        }
    }
}

/// An entry of `select=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectItem {
    /// `*`: every column.
    Star,
    /// `alias:col->path::cast`.
    Field { field: Field, alias: Option<String>, cast: Option<String> },
    /// `alias:relation!hint!inner(children)`.
    Embed(Embed),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Embed {
    /// A table name, a foreign key's name, or a foreign key column of the parent.
    pub name: String,
    pub alias: Option<String>,
    /// `!fk_name` or `!column`: which foreign key to follow.
    pub hint: Option<String>,
    /// `!inner`: drop parents without a matching child.
    pub inner: bool,
    pub select: Vec<SelectItem>,
}

impl Embed {
    /// The key of this embed in the answer and in `orders.amount=` paths.
    pub fn label(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }
}

/// Comparison operators that take one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
    Like,
    Ilike,
    Match,
    Imatch,
    /// `cs`: `@>`.
    Contains,
    /// `cd`: `<@`.
    ContainedIn,
    /// `ov`: `&&`.
    Overlaps,
    StrictlyLeft,
    StrictlyRight,
    NotExtendsRight,
    NotExtendsLeft,
    Adjacent,
    IsDistinct,
}

/// `like(any).{a,b}`: the value is an array literal compared element by element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantifier {
    Any,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsValue {
    Null,
    NotNull,
    True,
    False,
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FtsOp {
    /// `fts`: `to_tsquery`.
    Fts,
    /// `plfts`: `plainto_tsquery`.
    Plain,
    /// `phfts`: `phraseto_tsquery`.
    Phrase,
    /// `wfts`: `websearch_to_tsquery`.
    Websearch,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    Cmp { op: CmpOp, quantifier: Option<Quantifier>, value: String },
    In(Vec<String>),
    Is(IsValue),
    Fts { op: FtsOp, language: Option<String>, value: String },
}

/// `field=[not.]op.value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub field: Field,
    pub negate: bool,
    pub operation: Operation,
}

/// `or=(a.eq.1,and(b.gt.2,c.lt.3))`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogicTree {
    Filter(Filter),
    Group { negate: bool, or: bool, children: Vec<LogicTree> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Asc,
    Desc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nulls {
    First,
    Last,
}

/// `col.desc.nullslast`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderTerm {
    pub field: Field,
    pub direction: Option<Direction>,
    pub nulls: Option<Nulls>,
}

/// The path of embeds a parameter applies to: empty for the top-level resource,
/// `["orders"]` for `orders.amount=gt.5`, `["orders", "items"]` one level deeper.
pub type EmbedPath = Vec<String>;
