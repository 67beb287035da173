//! The product's enumerations as GraphQL enums: mirrors of `domain::enums`,
//! expanded from the same list with the same spellings, converting both ways.

use async_graphql::Enum;

macro_rules! graphql_enums {
    ($( $(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? } )*) => {
        $(
            $(#[$meta])*
            #[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Hash)]
            pub enum $name { $($(#[$vmeta])* #[graphql(name = $text)] $variant),+ }

            impl From<$name> for crate::domain::enums::$name {
                fn from(value: $name) -> Self {
                    match value { $($name::$variant => Self::$variant),+ }
                }
            }

            impl From<crate::domain::enums::$name> for $name {
                fn from(value: crate::domain::enums::$name) -> Self {
                    match value { $(crate::domain::enums::$name::$variant => Self::$variant),+ }
                }
            }
        )*
    };
}

crate::product_enums!(graphql_enums);
