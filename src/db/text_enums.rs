//! The product's enumerations as stored: text columns whose CHECK constraints
//! allow exactly the spellings in `domain::enums`. Reading any other value is an
//! error naming it, never a substitute.

use diesel::deserialize::{self, FromSql, Queryable};
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;

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

            impl Queryable<Text, Pg> for enums::$name {
                type Row = Self;

                fn build(row: Self) -> deserialize::Result<Self> {
                    Ok(row)
                }
            }
        )*
    };
}

crate::product_enums!(sql_text_enums);
