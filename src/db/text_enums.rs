//! The product's enumerations as stored: text columns whose CHECK constraints
//! allow exactly the spellings in `domain::enums`. Reading any other value is an
//! error naming it, never a substitute.

use diesel::deserialize::{self, FromSql, Queryable};
use diesel::expression::AsExpression;
use diesel::internal::derives::as_expression::Bound;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::{Nullable, Text};

use crate::domain::enums;

macro_rules! sql_text_enums {
    ($( $(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? } )*) => {
        $(
            impl FromSql<Text, Pg> for enums::$name {
                fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
                    let text = std::str::from_utf8(value.as_bytes())?;
                    enums::$name::parse(text).ok_or_else(|| {
                        format!("the database holds {text:?}, which is not a {}", stringify!($name)).into()
                    })
                }
            }

            impl ToSql<Text, Pg> for enums::$name {
                fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                    <str as ToSql<Text, Pg>>::to_sql(self.as_str(), &mut out.reborrow())
                }
            }

            impl ToSql<Nullable<Text>, Pg> for enums::$name {
                fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                    <Self as ToSql<Text, Pg>>::to_sql(self, out)
                }
            }

            impl Queryable<Text, Pg> for enums::$name {
                type Row = Self;

                fn build(row: Self) -> deserialize::Result<Self> {
                    Ok(row)
                }
            }

            sql_text_enums!(@bind enums::$name);
            sql_text_enums!(@bind &enums::$name);
        )*
    };
    // Inserted and compared as text, the way ids are bound as BigInt (db/ids.rs).
    (@bind $($bound:tt)+) => {
        impl AsExpression<Text> for $($bound)+ {
            type Expression = Bound<Text, Self>;

            fn as_expression(self) -> Self::Expression {
                Bound::new(self)
            }
        }

        impl AsExpression<Nullable<Text>> for $($bound)+ {
            type Expression = Bound<Nullable<Text>, Self>;

            fn as_expression(self) -> Self::Expression {
                Bound::new(self)
            }
        }
    };
}

crate::product_enums!(sql_text_enums);
crate::stored_enums!(sql_text_enums);
