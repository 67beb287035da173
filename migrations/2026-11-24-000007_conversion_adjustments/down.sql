DROP TABLE conversion_adjustments;
