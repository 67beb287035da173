// @generated automatically by Diesel CLI.

diesel::table! {
    api_keys (brand_id, id) {
        brand_id -> Int8,
        id -> Int8,
        role -> Text,
        key_hash -> Bytea,
        key_prefix -> Text,
        label -> Text,
        created_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        last_used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    audit_events (brand_id, id) {
        brand_id -> Int8,
        id -> Int8,
        api_key_id -> Nullable<Int8>,
        action -> Text,
        details -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    brands (id) {
        id -> Int8,
        slug -> Text,
        name -> Text,
        time_zone -> Text,
        currency -> Text,
        webhook_secret -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    clicks (brand_id, id, clicked_at) {
        brand_id -> Int8,
        id -> Uuid,
        membership_id -> Int8,
        clicked_at -> Timestamptz,
        ip_hash -> Nullable<Bytea>,
        user_agent -> Text,
        is_bot -> Bool,
        commission -> Numeric,
        unpaid_reason -> Nullable<Text>,
    }
}

diesel::table! {
    /// No key: a membership-day has a tally per batch until they are folded.
    click_tallies (brand_id, membership_id, day) {
        brand_id -> Int8,
        membership_id -> Int8,
        day -> Date,
        clicks -> Int8,
    }
}

diesel::table! {
    click_retention (only_row) {
        only_row -> Bool,
        kept_since -> Timestamptz,
    }
}

diesel::table! {
    click_visitors (brand_id, membership_id, visitor) {
        brand_id -> Int8,
        membership_id -> Int8,
        visitor -> Bytea,
        last_paid_at -> Timestamptz,
    }
}

diesel::table! {
    conversion_adjustments (brand_id, id) {
        brand_id -> Int8,
        id -> Int8,
        conversion_id -> Int8,
        kind -> Text,
        sale_amount -> Numeric,
        commission -> Numeric,
        reference -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    conversions (brand_id, id) {
        brand_id -> Int8,
        id -> Int8,
        source -> Text,
        external_order_id -> Text,
        membership_id -> Nullable<Int8>,
        occurred_at -> Timestamptz,
        currency -> Text,
        original_sale_amount -> Numeric,
        sale_amount -> Numeric,
        original_commission -> Numeric,
        commission -> Numeric,
        status -> Text,
        rejection_reason -> Nullable<Text>,
        attribution -> Nullable<Text>,
        click_id -> Nullable<Uuid>,
        promo_code -> Nullable<Text>,
        payout_type -> Nullable<Text>,
        payout_percent -> Nullable<Numeric>,
        payout_flat -> Nullable<Numeric>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        assignment_key -> Nullable<Text>,
        order_currency -> Nullable<Text>,
        order_amount -> Nullable<Numeric>,
        order_refunded -> Numeric,
        exchange_rate -> Nullable<Numeric>,
        rate_published_on -> Nullable<Date>,
        rate_source -> Nullable<Text>,
    }
}

diesel::table! {
    email_attempts (brand_id, id) {
        brand_id -> Int8,
        id -> Int8,
        outbox_id -> Int8,
        attempted_at -> Timestamptz,
        succeeded -> Bool,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    email_outbox (brand_id, id) {
        brand_id -> Int8,
        id -> Int8,
        membership_id -> Int8,
        to_address -> Text,
        subject -> Text,
        body -> Text,
        status -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        created_at -> Timestamptz,
        sent_at -> Nullable<Timestamptz>,
        lease_token -> Nullable<Uuid>,
        reward_id -> Nullable<Int8>,
    }
}

diesel::table! {
    event_deliveries (brand_id, id) {
        brand_id -> Int8,
        id -> Int8,
        endpoint_id -> Int8,
        event_id -> Uuid,
        status -> Text,
        attempts -> Int4,
        last_status_code -> Nullable<Int4>,
        last_duration_ms -> Nullable<Int4>,
        last_error -> Nullable<Text>,
        last_attempt_at -> Nullable<Timestamptz>,
        next_attempt_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    events (brand_id, id) {
        brand_id -> Int8,
        id -> Uuid,
        event_type -> Text,
        object_id -> Text,
        payload -> Text,
        created_at -> Timestamptz,
        seq -> Int8,
        dispatched -> Bool,
    }
}

diesel::table! {
    exchange_rates (day, currency) {
        day -> Date,
        currency -> Text,
        per_euro -> Numeric,
        source -> Text,
        fetched_at -> Timestamptz,
    }
}

diesel::table! {
    jobs (id) {
        id -> Int8,
        kind -> Text,
        recurring -> Bool,
        brand_id -> Nullable<Int8>,
        delivery_id -> Nullable<Int8>,
        ordering_key -> Nullable<Text>,
        payload -> Jsonb,
        status -> Text,
        run_at -> Timestamptz,
        attempts -> Int4,
        lease_token -> Nullable<Uuid>,
        leased_until -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    ledger_entries (brand_id, id) {
        brand_id -> Int8,
        id -> Int8,
        membership_id -> Int8,
        kind -> Text,
        amount -> Numeric,
        conversion_id -> Nullable<Int8>,
        reward_id -> Nullable<Int8>,
        earned_at -> Timestamptz,
        payable_at -> Timestamptz,
        payment_item_id -> Nullable<Int8>,
        created_at -> Timestamptz,
        matured -> Bool,
    }
}

diesel::table! {
    link_codes (code) {
        code -> Text,
        brand_id -> Int8,
        membership_id -> Int8,
    }
}

diesel::table! {
    members (brand_id, id) {
        brand_id -> Int8,
        id -> Int8,
        name -> Text,
        email -> Text,
        payout_email -> Nullable<Text>,
        country -> Nullable<Text>,
        created_at -> Timestamptz,
        payout_currency -> Text,
    }
}

diesel::table! {
    membership_balances (brand_id, membership_id) {
        brand_id -> Int8,
        membership_id -> Int8,
        unpaid -> Numeric,
        paid -> Numeric,
        on_hold -> Numeric,
    }
}

diesel::table! {
    membership_daily_stats (brand_id, membership_id, day) {
        brand_id -> Int8,
        membership_id -> Int8,
        day -> Date,
        clicks -> Int8,
        conversions -> Int8,
        sales -> Numeric,
        commission -> Numeric,
    }
}

diesel::table! {
    membership_monthly_stats (brand_id, membership_id, month) {
        brand_id -> Int8,
        membership_id -> Int8,
        month -> Date,
        clicks -> Int8,
        conversions -> Int8,
        sales -> Numeric,
        commission -> Numeric,
    }
}

diesel::table! {
    memberships (brand_id, id) {
        brand_id -> Int8,
        id -> Int8,
        offer_id -> Int8,
        member_id -> Int8,
        active -> Bool,
        link_code -> Nullable<Text>,
        payout_type -> Nullable<Text>,
        payout_percent -> Nullable<Numeric>,
        payout_flat -> Nullable<Numeric>,
        joined_at -> Timestamptz,
        removed_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    offer_balances (brand_id, offer_id) {
        brand_id -> Int8,
        offer_id -> Int8,
        payments_due -> Numeric,
        members_with_payments_due -> Int8,
        paid -> Numeric,
    }
}

diesel::table! {
    offer_converting_members (brand_id, offer_id, is_month, period_start) {
        brand_id -> Int8,
        offer_id -> Int8,
        is_month -> Bool,
        period_start -> Date,
        members -> Bytea,
    }
}

diesel::table! {
    offer_daily_stats (brand_id, offer_id, day) {
        brand_id -> Int8,
        offer_id -> Int8,
        day -> Date,
        clicks -> Int8,
        conversions -> Int8,
        sales -> Numeric,
        commission -> Numeric,
    }
}

diesel::table! {
    offer_member_counts (brand_id, offer_id) {
        brand_id -> Int8,
        offer_id -> Int8,
        memberships -> Int8,
    }
}

diesel::table! {
    offer_monthly_stats (brand_id, offer_id, month) {
        brand_id -> Int8,
        offer_id -> Int8,
        month -> Date,
        clicks -> Int8,
        conversions -> Int8,
        sales -> Numeric,
        commission -> Numeric,
    }
}

diesel::table! {
    offer_projects (brand_id, offer_id, project_id) {
        brand_id -> Int8,
        offer_id -> Int8,
        project_id -> Int8,
    }
}

diesel::table! {
    offers (brand_id, id) {
        brand_id -> Int8,
        id -> Int8,
        name -> Text,
        offer_type -> Text,
        status -> Text,
        destination_url -> Nullable<Text>,
        code_prefix -> Nullable<Text>,
        payout_type -> Text,
        payout_percent -> Nullable<Numeric>,
        payout_flat -> Nullable<Numeric>,
        attribution_window_days -> Int4,
        hold_period_days -> Int4,
        starts_on -> Date,
        ends_on -> Nullable<Date>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    /// No key: a membership has a tally per order group until they are folded.
    order_tallies (brand_id, membership_id) {
        brand_id -> Int8,
        membership_id -> Int8,
        day -> Nullable<Date>,
        conversions -> Int8,
        sales -> Numeric,
        commission -> Numeric,
        unpaid -> Numeric,
        on_hold -> Numeric,
    }
}

diesel::table! {
    orders_awaiting_rate (brand_id, source, external_order_id) {
        brand_id -> Int8,
        source -> Text,
        external_order_id -> Text,
        occurred_at -> Timestamptz,
        amount -> Numeric,
        currency -> Text,
        promo_codes -> Array<Text>,
        click_id -> Nullable<Uuid>,
        received_at -> Timestamptz,
        refunds -> Jsonb,
    }
}

diesel::table! {
    payment_items (brand_id, id) {
        brand_id -> Int8,
        id -> Int8,
        payment_id -> Int8,
        membership_id -> Int8,
        amount -> Numeric,
        state -> Text,
        provider_reference -> Nullable<Text>,
        provider_status -> Nullable<Text>,
        payout_currency -> Text,
        payout_amount -> Numeric,
        exchange_rate -> Numeric,
        rate_published_on -> Nullable<Date>,
        rate_source -> Nullable<Text>,
    }
}

diesel::table! {
    payments (brand_id, id) {
        brand_id -> Int8,
        id -> Int8,
        idempotency_key -> Text,
        scope -> Text,
        offer_id -> Nullable<Int8>,
        provider -> Text,
        state -> Text,
        total_amount -> Numeric,
        created_by_key_id -> Nullable<Int8>,
        created_at -> Timestamptz,
        completed_at -> Nullable<Timestamptz>,
        provider_batch_id -> Nullable<Text>,
        next_check_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    projects (brand_id, id) {
        brand_id -> Int8,
        id -> Int8,
        name -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    promo_codes (brand_id, id) {
        brand_id -> Int8,
        id -> Int8,
        membership_id -> Int8,
        code -> Text,
        created_at -> Timestamptz,
        disabled_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    promo_code_sync (brand_id, code) {
        brand_id -> Int8,
        code -> Text,
        state -> Text,
        error -> Nullable<Text>,
        updated_at -> Timestamptz,
        adopted_discount_id -> Nullable<Text>,
    }
}

diesel::table! {
    reward_rules (brand_id, id) {
        brand_id -> Int8,
        id -> Int8,
        offer_id -> Int8,
        trigger -> Text,
        every_n -> Nullable<Int4>,
        sales_threshold -> Nullable<Numeric>,
        reward_kind -> Text,
        cash_amount -> Nullable<Numeric>,
        description -> Text,
        active -> Bool,
        created_at -> Timestamptz,
        email_subject -> Nullable<Text>,
        email_body -> Nullable<Text>,
    }
}

diesel::table! {
    rewards (brand_id, id) {
        brand_id -> Int8,
        id -> Int8,
        membership_id -> Int8,
        kind -> Text,
        cash_amount -> Nullable<Numeric>,
        description -> Text,
        discount_code -> Nullable<Text>,
        reward_rule_id -> Nullable<Int8>,
        rule_occurrence -> Nullable<Int4>,
        granted_at -> Timestamptz,
        idempotency_key -> Nullable<Text>,
        reversed_at -> Nullable<Timestamptz>,
        reversal_reason -> Nullable<Text>,
    }
}

diesel::table! {
    shopper_discounts (brand_id, offer_id) {
        brand_id -> Int8,
        offer_id -> Int8,
        discount_type -> Text,
        value -> Numeric,
        once_per_customer -> Bool,
        minimum_subtotal -> Nullable<Numeric>,
        shopify_discount_id -> Nullable<Text>,
        shopify_active -> Nullable<Bool>,
        terms_changed -> Bool,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    shopify_imports (brand_id, id) {
        brand_id -> Int8,
        id -> Int8,
        shop_domain -> Text,
        starts_at -> Timestamptz,
        ends_at -> Timestamptz,
        payable -> Bool,
        state -> Text,
        after -> Nullable<Text>,
        total -> Nullable<Int4>,
        processed -> Int4,
        recorded -> Int4,
        already_recorded -> Int4,
        skipped -> Int4,
        payment_id -> Nullable<Int8>,
        error -> Nullable<Text>,
        created_by_key_id -> Nullable<Int8>,
        started_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    shopify_installs (state_hash) {
        state_hash -> Text,
        brand_id -> Int8,
        api_key_id -> Int8,
        shop_domain -> Text,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    shopify_stores (brand_id) {
        brand_id -> Int8,
        shop_domain -> Text,
        shop_name -> Text,
        sealed_token -> Text,
        scopes -> Array<Nullable<Text>>,
        connected_via -> Text,
        status -> Text,
        last_synced_at -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        connected_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    table_columns (brand_id, api_key_id, table_name) {
        brand_id -> Int8,
        api_key_id -> Int8,
        table_name -> Text,
        column_names -> Array<Nullable<Text>>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    webhook_deliveries (brand_id, source, delivery_id) {
        brand_id -> Int8,
        source -> Text,
        delivery_id -> Text,
        received_at -> Timestamptz,
    }
}

diesel::table! {
    webhook_endpoints (brand_id, id) {
        brand_id -> Int8,
        id -> Int8,
        url -> Text,
        description -> Text,
        event_types -> Array<Nullable<Text>>,
        secret -> Text,
        alert_email -> Nullable<Text>,
        enabled -> Bool,
        disabled_reason -> Nullable<Text>,
        failing_since -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(api_keys -> brands (brand_id));
diesel::joinable!(events -> brands (brand_id));
diesel::joinable!(members -> brands (brand_id));
diesel::joinable!(offers -> brands (brand_id));
diesel::joinable!(projects -> brands (brand_id));
diesel::joinable!(shopify_imports -> brands (brand_id));
diesel::joinable!(shopify_installs -> brands (brand_id));
diesel::joinable!(shopify_stores -> brands (brand_id));
diesel::joinable!(webhook_deliveries -> brands (brand_id));
diesel::joinable!(webhook_endpoints -> brands (brand_id));

diesel::allow_tables_to_appear_in_same_query!(
    api_keys,
    audit_events,
    brands,
    click_retention,
    click_tallies,
    click_visitors,
    clicks,
    conversion_adjustments,
    conversions,
    email_attempts,
    email_outbox,
    event_deliveries,
    events,
    exchange_rates,
    jobs,
    ledger_entries,
    link_codes,
    members,
    membership_balances,
    membership_daily_stats,
    membership_monthly_stats,
    memberships,
    offer_balances,
    offer_converting_members,
    offer_daily_stats,
    offer_member_counts,
    offer_monthly_stats,
    offer_projects,
    offers,
    order_tallies,
    orders_awaiting_rate,
    payment_items,
    payments,
    projects,
    promo_code_sync,
    promo_codes,
    reward_rules,
    rewards,
    shopper_discounts,
    shopify_imports,
    shopify_installs,
    shopify_stores,
    table_columns,
    webhook_deliveries,
    webhook_endpoints,
);
