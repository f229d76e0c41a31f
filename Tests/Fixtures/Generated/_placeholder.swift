import Generated
