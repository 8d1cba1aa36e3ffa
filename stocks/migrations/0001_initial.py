"""Stocks and their daily bars."""

import django.db.models.deletion
import django.db.models.functions.text
import stocks.tickers
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name='Stock',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('ticker', models.CharField(max_length=16, unique=True, validators=[stocks.tickers.validate_ticker])),
                ('name', models.CharField(max_length=200)),
                ('exchange', models.CharField(blank=True, max_length=32)),
                ('sector', models.CharField(blank=True, max_length=64)),
                ('industry', models.CharField(blank=True, max_length=128)),
                ('currency', models.CharField(default='USD', max_length=3)),
                ('market_cap', models.BigIntegerField(blank=True, help_text='In units of the currency.', null=True)),
                ('last_price', models.DecimalField(blank=True, decimal_places=4, max_digits=14, null=True)),
                ('change_percent', models.DecimalField(blank=True, decimal_places=4, help_text='Change since the previous close, in %.', max_digits=12, null=True)),
                ('volume', models.BigIntegerField(blank=True, null=True)),
                ('avg_volume_30d', models.BigIntegerField(blank=True, null=True, verbose_name='30-day average volume')),
                ('pe_ratio', models.DecimalField(blank=True, decimal_places=4, max_digits=12, null=True, verbose_name='P/E')),
                ('dividend_yield', models.DecimalField(blank=True, decimal_places=4, help_text='In %.', max_digits=12, null=True)),
                ('week_52_high', models.DecimalField(blank=True, decimal_places=4, max_digits=14, null=True, verbose_name='52-week high')),
                ('week_52_low', models.DecimalField(blank=True, decimal_places=4, max_digits=14, null=True, verbose_name='52-week low')),
                ('is_active', models.BooleanField(default=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'ordering': ['ticker'],
                'constraints': [models.CheckConstraint(condition=models.Q(('ticker', django.db.models.functions.text.Upper('ticker'))), name='stock_ticker_upper_case')],
            },
        ),
        migrations.CreateModel(
            name='DailyBar',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('date', models.DateField()),
                ('open', models.DecimalField(decimal_places=4, max_digits=14)),
                ('high', models.DecimalField(decimal_places=4, max_digits=14)),
                ('low', models.DecimalField(decimal_places=4, max_digits=14)),
                ('close', models.DecimalField(decimal_places=4, max_digits=14)),
                ('volume', models.BigIntegerField()),
                ('stock', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='bars', to='stocks.stock')),
            ],
            options={
                'ordering': ['-date', 'stock_id'],
                'constraints': [models.UniqueConstraint(fields=('date', 'stock'), name='dailybar_one_per_stock_and_date'), models.CheckConstraint(condition=models.Q(('low__lte', models.F('high'))), name='dailybar_low_not_above_high')],
            },
        ),
    ]
