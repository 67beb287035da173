DROP TABLE table_columns;
