DROP TABLE shopify_installs;
