-- White-label settings per account (premium and up): the product name, logo (an https URL or a
-- small data URL) and primary colour its customer sees in the studio. No row = no branding.
-- The tenant program receives them as TENANTPOOL_BRAND_* when the tenant is (re-)applied.

-- +goose Up
CREATE TABLE account_brands (
    account_id BIGINT PRIMARY KEY,
    name       TEXT   NOT NULL DEFAULT '',
    logo       TEXT   NOT NULL DEFAULT '',
    color      TEXT   NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE account_brands;
