//! Statements whose text never changes, so that diesel prepares each once per
//! connection and PostgreSQL plans it from then on without parsing. `sql_query`
//! is never cached, and an insert of many rows changes its text with the number
//! of rows; on the hot paths (a batch of clicks, a group of orders) parsing and
//! planning cost more than running the statement.

/// Declares a statement with fixed text and its bind values as a struct with one
/// field per `$n`, in order: `$1` is the first field. A placeholder may appear
/// more than once. The struct runs like any diesel query (`load`, `get_result`,
/// `execute`) and rows are read with `QueryableByName`.
macro_rules! cached_statement {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident<$lifetime:lifetime> = $sql:expr;
        { $($field:ident: $sql_type:ty => $rust_type:ty),+ $(,)? }
    ) => {
        $(#[$meta])*
        $vis struct $name<$lifetime> {
            $(pub $field: $rust_type,)+
        }

        impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for $name<'_> {
            fn walk_ast<'b>(
                &'b self,
                mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
            ) -> diesel::QueryResult<()> {
                // Diesel numbers each placeholder itself, where its value is pushed.
                let mut pieces = $sql.split('$');
                out.push_sql(pieces.next().unwrap_or_default());
                for piece in pieces {
                    let rest = piece.trim_start_matches(|c: char| c.is_ascii_digit());
                    let wanted: usize = piece[..piece.len() - rest.len()].parse().map_err(|_| {
                        diesel::result::Error::QueryBuilderError(
                            format!("{}: a `$` without a placeholder number", stringify!($name)).into(),
                        )
                    })?;
                    let mut position = 0;
                    let mut pushed = false;
                    $(
                        position += 1;
                        if position == wanted {
                            out.push_bind_param::<$sql_type, _>(&self.$field)?;
                            pushed = true;
                        }
                    )+
                    if !pushed {
                        return Err(diesel::result::Error::QueryBuilderError(
                            format!("{}: no value for ${wanted}", stringify!($name)).into(),
                        ));
                    }
                    out.push_sql(rest);
                }
                Ok(())
            }
        }

        impl diesel::query_builder::QueryId for $name<'_> {
            type QueryId = $name<'static>;
            const HAS_STATIC_QUERY_ID: bool = true;
        }

        impl diesel::query_builder::Query for $name<'_> {
            type SqlType = diesel::sql_types::Untyped;
        }
    };
}

pub(crate) use cached_statement;
