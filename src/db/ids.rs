//! Entity ids as stored: `BIGINT` columns read into and bound from
//! `domain::ids`, so a query cannot compare a member id with an offer id.

use diesel::deserialize::{self, FromSql, Queryable};
use diesel::expression::AsExpression;
use diesel::internal::derives::as_expression::Bound;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::{BigInt, Nullable};

use crate::domain::ids::*;

macro_rules! sql_entity_ids {
    ($($name:ident => $kind:ident),* $(,)?) => {
        $(
            impl FromSql<BigInt, Pg> for $name {
                fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
                    <i64 as FromSql<BigInt, Pg>>::from_sql(value).map($name)
                }
            }

            impl ToSql<BigInt, Pg> for $name {
                fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                    <i64 as ToSql<BigInt, Pg>>::to_sql(&self.0, &mut out.reborrow())
                }
            }

            impl ToSql<Nullable<BigInt>, Pg> for $name {
                fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                    <Self as ToSql<BigInt, Pg>>::to_sql(self, out)
                }
            }

            impl Queryable<BigInt, Pg> for $name {
                type Row = Self;

                fn build(row: Self) -> deserialize::Result<Self> {
                    Ok(row)
                }
            }

            sql_entity_ids!(@bind $name, $name);
            sql_entity_ids!(@bind $name, &$name);
            sql_entity_ids!(@bind $name, &&$name);
        )*
    };
    (@bind $name:ident, $($bound:tt)+) => {
        impl AsExpression<BigInt> for $($bound)+ {
            type Expression = Bound<BigInt, Self>;

            fn as_expression(self) -> Self::Expression {
                Bound::new(self)
            }
        }

        impl AsExpression<Nullable<BigInt>> for $($bound)+ {
            type Expression = Bound<Nullable<BigInt>, Self>;

            fn as_expression(self) -> Self::Expression {
                Bound::new(self)
            }
        }
    };
}

crate::entity_ids!(sql_entity_ids);
