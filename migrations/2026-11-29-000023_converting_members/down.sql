DROP TABLE offer_converting_members;
