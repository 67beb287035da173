DROP TABLE conversions;
DROP TABLE clicks;
