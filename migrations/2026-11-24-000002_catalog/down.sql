DROP TABLE promo_codes;
DROP TABLE memberships;
DROP TABLE offer_projects;
DROP TABLE offers;
DROP TABLE members;
DROP TABLE projects;
